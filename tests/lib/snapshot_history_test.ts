// quickHistory(), the quick way a history is read, gives what the valibot
// schema gives, and refuses what it refuses.

import { deepStrictEqual, equal } from "node:assert/strict";
import fc from "fast-check";
import * as v from "valibot";
import { HistorySchema, quickHistory } from "../../lib/state/snapshot_history.ts";

const field = fc.oneof(
  fc.string(),
  fc.constantFrom("20261124T141500Z", "-bad", "a".repeat(129), ""),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constant(null),
  fc.boolean(),
  fc.constant(undefined),
  fc.array(fc.string(), { maxLength: 2 }),
);
/** A valid value from `good`, or it with one key set to anything (or removed). */
function mutated<T extends Record<string, unknown>>(good: fc.Arbitrary<T>, keys: string[]) {
  return fc.tuple(good, fc.option(fc.tuple(fc.constantFrom(...keys, "extra"), field)))
    .map(([value, change]) => {
      if (change === null) return value;
      const [key, to] = change;
      const copy: Record<string, unknown> = { ...value };
      if (to === undefined) delete copy[key];
      else copy[key] = to;
      return copy;
    });
}

const record = fc.oneof(
  {
    weight: 9,
    arbitrary: mutated(
      fc.record({
        id: fc.constantFrom("20261124T141500Z", "legacy", "x-2"),
        createdAt: fc.constant("2026-11-24T14:15:00.000Z"),
        backend: fc.constantFrom("docker", "smolmachines"),
        artifact: fc.string(),
        sizeBytes: fc.oneof(fc.integer({ min: 0 }), fc.constant(null)),
        parent: fc.oneof(fc.constant(null), fc.constant("20261124T141500Z")),
        toolVersion: fc.constant("0.1.0"),
        message: fc.oneof(fc.constant(null), fc.string()),
      }),
      ["id", "createdAt", "backend", "artifact", "sizeBytes", "parent", "toolVersion", "message"],
    ),
  },
  { weight: 1, arbitrary: field },
);
const history = fc.oneof(
  {
    weight: 9,
    arbitrary: mutated(
      fc.record({
        version: fc.constant(1),
        snapshots: fc.array(record, { maxLength: 4 }),
        resumedFrom: fc.oneof(fc.constant(null), fc.string()),
      }),
      ["version", "snapshots", "resumedFrom"],
    ),
  },
  { weight: 1, arbitrary: field },
);

Deno.test("quickHistory() accepts exactly what the schema accepts, with the same output", () => {
  let accepted = 0;
  fc.assert(
    fc.property(history, (value) => {
      const checked = v.safeParse(HistorySchema, value);
      const quick = quickHistory(value);
      equal(quick !== undefined, checked.success, JSON.stringify(value));
      if (checked.success) deepStrictEqual(quick, checked.output);
      if (checked.success && (value as { snapshots: unknown[] }).snapshots.length > 0) accepted++;
    }),
    { numRuns: 3000 },
  );
  // The generator reaches valid histories with snapshots, not only refusals.
  equal(accepted > 20, true, `only ${accepted} valid histories with snapshots`);
});
