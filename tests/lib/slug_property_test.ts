// Property-based tests of the slug rule (lib/state/slug.ts), with fast-check.

import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import fc from "fast-check";
import { BottleState } from "../../lib/state/bottle_state.ts";
import { BadInputError } from "../../lib/errors.ts";
import { isSlug, mintSlug, parseSlug, slugFromLabel } from "../../lib/state/slug.ts";
import { KINDS } from "../../lib/registry/template.ts";

/** Characters that break paths, shells and names, and ones a slug is made of. */
const TRICKY = [
  ..."abcz09-",
  ..."AZ_./\\ \t\n\r\0:;$`'\"*?~",
  "..",
  "--",
  "é",
  "K", // the Kelvin sign, which lower-cases to an ASCII "k"
  "İ",
  "😀",
  "\u202e",
];

/** Any text, biased towards slug-like and hostile strings. */
const anyText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...TRICKY),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 30,
});

/** Valid slugs: lower-case [a-z0-9] runs joined by single "-", up to about 190 characters. */
const slug = fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 20 })
  .map((runs) => runs.join("-"));

Deno.test("parseSlug() accepts exactly what isSlug() accepts, and throws only BadInputError otherwise", () => {
  fc.assert(
    fc.property(fc.oneof(anyText, slug), (value) => {
      if (isSlug(value)) {
        equal(parseSlug(value), value);
      } else {
        throws(() => parseSlug(value), (error: unknown) => {
          if (!(error instanceof BadInputError)) return false;
          equal(
            error.message.startsWith(`${JSON.stringify(value)} is not a valid bottle slug`),
            true,
          );
          return true;
        });
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("an accepted slug stays inside the state directory and names nothing else", () => {
  fc.assert(
    fc.property(slug, (value) => {
      equal(isSlug(value), true);
      equal(/[/\\\0\s]|\.\.|^-|-$|--|[A-Z]/.test(value), false, value);
      const state = new BottleState(value, "/home/u/.bot-bottle");
      equal(state.slug, value);
      equal(state.dir, join("/home/u/.bot-bottle/state", value));
      equal(dirname(state.dir), "/home/u/.bot-bottle/state");
      equal(basename(state.dir), value);
      equal(KINDS.slug.accepts(value), true);
      equal(KINDS.imageReference.accepts(`bot-bottle-committed-${value}:latest`), true);
      // Backends name their objects bot-bottle-<slug>: a valid name while it fits in 128 characters.
      const name = `bot-bottle-${value}`;
      equal(KINDS.containerName.accepts(name), name.length <= 128, name);
    }),
    { numRuns: 500 },
  );
});

Deno.test("slugFromLabel() gives a slug or throws BadInputError, and keeps a slug as it is", () => {
  fc.assert(
    fc.property(anyText, (label) => {
      let result: string;
      try {
        result = slugFromLabel(label);
      } catch (error) {
        equal(error instanceof BadInputError, true, String(error));
        // Only a label with nothing that lower-cases to [a-z0-9] is refused.
        equal(/[a-z0-9]/.test(label.toLowerCase()), false, label);
        return;
      }
      equal(isSlug(result), true, `${JSON.stringify(label)} -> ${JSON.stringify(result)}`);
      equal(slugFromLabel(result), result);
    }),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(slug, (value) => equal(slugFromLabel(value), value)), { numRuns: 300 });
});

Deno.test("mintSlug() makes a slug from any slug prefix, and refuses any other prefix", () => {
  fc.assert(
    fc.property(fc.oneof(slug, anyText), (prefix) => {
      if (isSlug(prefix)) {
        const minted = mintSlug(prefix);
        equal(isSlug(minted), true);
        deepStrictEqual(minted.slice(0, -6), prefix);
        equal(/^-[a-z0-9]{5}$/.test(minted.slice(-6)), true, minted);
      } else {
        throws(() => mintSlug(prefix), BadInputError);
      }
    }),
    { numRuns: 1000 },
  );
});
