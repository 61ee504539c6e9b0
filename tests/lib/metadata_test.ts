import { deepStrictEqual, equal } from "node:assert/strict";
import { MAX_JSON_DEPTH } from "../../lib/state/atomic_write.ts";
import { validateMetadata } from "../../lib/state/metadata.ts";

function nested(depth: number): unknown {
  return JSON.parse("[".repeat(depth) + "]".repeat(depth));
}

Deno.test("validateMetadata() refuses values nested deeper than MAX_JSON_DEPTH, which could not be written back", () => {
  // 500000 levels: JSON.parse builds it, but JSON.stringify would overflow the stack.
  for (const depth of [MAX_JSON_DEPTH, 500_000]) {
    const started = performance.now();
    deepStrictEqual(validateMetadata({ identity: "dev-abc12", deep: nested(depth) }), {
      ok: false,
      problems: [`arrays or objects nest more than ${MAX_JSON_DEPTH} levels deep`],
    });
    equal(performance.now() - started < 1000, true, "took a second or more");
  }
});

Deno.test("validateMetadata() accepts values nested exactly MAX_JSON_DEPTH deep", () => {
  const metadata = { identity: "dev-abc12", deep: nested(MAX_JSON_DEPTH - 1) };
  const result = validateMetadata(metadata);
  equal(result.ok, true);
  if (result.ok) deepStrictEqual(result.metadata, metadata);
});

Deno.test("validateMetadata() refuses an object that contains itself, without looping", () => {
  const cyclic: Record<string, unknown> = { identity: "dev-abc12" };
  cyclic.self = cyclic;
  equal(validateMetadata(cyclic).ok, false);
});
