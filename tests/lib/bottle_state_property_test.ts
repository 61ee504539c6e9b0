// Property-based tests of reading metadata.json (BottleState.readMetadata),
// with fast-check, over real files: whatever the file holds, the result is
// metadata or a BadInputError naming the file, and the file is left as it was.

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { BottleState, METADATA_FILE } from "../../lib/state/bottle_state.ts";
import { BadInputError } from "../../lib/errors.ts";
import { launcherMetadata, tempHome } from "../_helpers/temp_home.ts";

const SLUG = "dev-abc12";

/** What a metadata.json may hold: JSON of any shape, text, bytes, deep or broken nesting. */
const anyContent: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.json(),
  fc.anything().map((value) => JSON.stringify(value) ?? "undefined"),
  fc.record({
    identity: fc.anything(),
    backend: fc.anything(),
    copy_cwd: fc.anything(),
    bottle_names: fc.anything(),
    started_at: fc.anything(),
  }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
  fc.string({ unit: "binary" }),
  fc.uint8Array({ maxLength: 200 }),
  fc.tuple(
    fc.integer({ min: 1, max: 200_000 }),
    fc.constantFrom("[", '{"a":', '{"a":['),
    fc.boolean(),
  ).map(([depth, open, closed]) => {
    const close = open === "[" ? "]" : open === '{"a":' ? "}" : "]}";
    return open.repeat(depth) + (open === "[" ? "" : "1") + (closed ? close.repeat(depth) : "");
  }),
);

/** A field name, including the ones that are special to JavaScript objects. */
const fieldName = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty"),
  fc.string({ maxLength: 10 }),
).filter((name) => !Object.hasOwn(launcherMetadata(SLUG), name));

/** Metadata as the launcher may write it: any field absent or null, extra fields of any JSON. */
const launcherLike = fc.tuple(
  fc.record({
    identity: fc.option(fc.string(), { nil: null }),
    agent_name: fc.option(fc.string(), { nil: null }),
    cwd: fc.option(fc.string(), { nil: null }),
    copy_cwd: fc.option(fc.boolean(), { nil: null }),
    started_at: fc.option(fc.string(), { nil: null }),
    compose_project: fc.option(fc.string(), { nil: null }),
    backend: fc.option(fc.constantFrom("docker", "macos-container", "smolmachines", ""), {
      nil: null,
    }),
    label: fc.option(fc.string(), { nil: null }),
    color: fc.option(fc.string(), { nil: null }),
    bottle_names: fc.option(fc.array(fc.string(), { maxLength: 3 }), { nil: null }),
  }, { requiredKeys: [] }),
  fc.array(fc.tuple(fieldName, fc.jsonValue({ maxDepth: 5 })), { maxLength: 5 }),
).map(([known, extra]) => {
  // Built as text, so that "__proto__" is an ordinary field, as JSON.parse reads it.
  const fields = [...Object.entries(known), ...extra]
    .map(([name, value]) => `${JSON.stringify(name)}: ${JSON.stringify(value)}`);
  return `{${fields.join(", ")}}`;
});

Deno.test("readMetadata() of any file content returns metadata or throws BadInputError naming the file, and changes nothing", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  const file = join(dir, METADATA_FILE);
  const state = new BottleState(SLUG, home.root);
  await fc.assert(
    fc.asyncProperty(anyContent, async (content) => {
      if (typeof content === "string") await Deno.writeTextFile(file, content);
      else await Deno.writeFile(file, content);
      const before = await Deno.readFile(file);
      try {
        const metadata = await state.readMetadata();
        equal(typeof metadata, "object");
        equal(Array.isArray(metadata), false);
        // Whatever was read can be written back (no stack overflow on deep values).
        JSON.stringify(metadata);
      } catch (error) {
        equal(error instanceof BadInputError, true, String(error));
        const message = (error as Error).message;
        equal(message.startsWith(`${file} `), true, message);
        match(message, /; fix or restore the file$/);
        equal(message.length < 2000, true, `${message.length} characters`);
      }
      deepStrictEqual(await Deno.readFile(file), before);
    }),
    { numRuns: 300 },
  );
});

Deno.test("readMetadata() reads any metadata the launcher may write, every field kept through a rewrite", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  const file = join(dir, METADATA_FILE);
  const state = new BottleState(SLUG, home.root);
  await fc.assert(
    fc.asyncProperty(launcherLike, async (text) => {
      await Deno.writeTextFile(file, text);
      const expected = JSON.parse(text);
      const metadata = await state.readMetadata();
      deepStrictEqual({ ...metadata }, { ...expected });
      await state.writeMetadata(metadata);
      deepStrictEqual(JSON.parse(await Deno.readTextFile(file)), expected);
    }),
    { numRuns: 200 },
  );
});
