import { equal, match, throws } from "node:assert/strict";
import { BadInputError } from "../../lib/errors.ts";
import { isSlug, parseSlug } from "../../lib/state/slug.ts";

const VALID = ["dev-abc12", "a", "a1-b2-c3", "researcher-m3hxd", "0"];
const INVALID = ["", "../x", "A B", "-a", "a-", "a--b", "Dev", "a_b", "a/b", "a\nb", "a\n", "."];

Deno.test("isSlug() accepts lower-case alphanumeric runs joined by single hyphens", () => {
  for (const slug of VALID) equal(isSlug(slug), true, JSON.stringify(slug));
});

Deno.test("isSlug() rejects empty, upper-case, path-like, padded and doubled-hyphen names", () => {
  for (const value of INVALID) equal(isSlug(value), false, JSON.stringify(value));
});

Deno.test("parseSlug() returns a valid slug unchanged", () => {
  for (const slug of VALID) equal(parseSlug(slug), slug);
});

Deno.test("parseSlug() throws BadInputError quoting the rejected value", () => {
  for (const value of INVALID) {
    throws(() => parseSlug(value), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(error.name, "BadInputError");
      match(error.message, /is not a valid bottle slug/);
      equal(error.message.startsWith(JSON.stringify(value)), true, error.message);
      return true;
    });
  }
});
