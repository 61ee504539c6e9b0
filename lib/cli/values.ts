/**
 * Reading parsed option values with their expected types.
 *
 * @module
 */

/** A string option's value, or `undefined`. */
export function string(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A `multiple` option's values (empty when not given). */
export function list(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === "string") : [];
}
