/**
 * The slug rule shared with the launcher: a bottle's identity, its state
 * directory's name, and the suffix of its backend objects' names.
 *
 * @module
 */

import { BadInputError } from "./errors.ts";

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * Tells whether `value` is a valid slug: non-empty lower-case `[a-z0-9]` runs
 * joined by single `-`.
 *
 * @param value The candidate.
 * @returns `true` when `value` is a slug.
 */
export function isSlug(value: string): boolean {
  return SLUG.test(value);
}

/**
 * Returns `value` when it is a valid slug, and throws otherwise.
 *
 * @param value The slug given by the user.
 * @returns The same slug.
 * @throws {BadInputError} When `value` breaks the slug rule.
 */
export function parseSlug(value: string): string {
  if (isSlug(value)) return value;
  throw new BadInputError(
    `${JSON.stringify(value)} is not a valid bottle slug; a slug is lower-case letters and ` +
      `digits in runs joined by single "-" (e.g. "dev-abc12"); run "bot-bottle commit" on a ` +
      `terminal to pick a running bottle`,
  );
}
