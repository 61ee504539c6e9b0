/**
 * Narrowing for tests: a value the test expects to be there (an array's
 * element, a map's entry, a regex group) is asserted, not cast with `!`, so
 * a missing one fails the test with a message instead of a TypeError later.
 *
 * @module
 */

import assert from "node:assert/strict";

/**
 * Asserts that `value` is there and returns it.
 *
 * @param value The value, e.g. `containers[0]`.
 * @param what What it is, for the failure's message.
 * @returns The value.
 */
export function present<T>(value: T | undefined, what = "a value"): T {
  assert.ok(value !== undefined, `expected ${what}, found none`);
  return value;
}
