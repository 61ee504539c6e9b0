/**
 * The slug rule shared with the launcher: a bottle's identity, its state
 * directory's name, and the suffix of its backend objects' names.
 *
 * @module
 */

import { BadInputError } from "../errors.ts";

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
      `digits in runs joined by single "-" (e.g. "dev-abc12"); "bot-bottle ls" lists the ` +
      `known bottles`,
  );
}

/**
 * Turns a user's label into a slug as the launcher does: lower-case, every
 * run of characters outside `[a-z0-9]` becomes `-`, leading and trailing `-`
 * stripped.
 *
 * @param label The label, e.g. `"My Project!"`.
 * @returns The slug, e.g. `"my-project"`.
 * @throws {BadInputError} When nothing of the label is left.
 */
export function slugFromLabel(label: string): string {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  if (slug === "") {
    throw new BadInputError(
      `the label ${JSON.stringify(label)} has no letters or digits to make a slug from; ` +
        `pass a --name with some`,
    );
  }
  return slug;
}

/**
 * Mints a slug as the launcher does: `<prefix>-<5 random base36 characters>`.
 *
 * @param prefix The prefix, itself a slug (default `"bottle"`).
 * @returns A new slug, e.g. `"bottle-m3hxd"`.
 */
export function mintSlug(prefix = "bottle"): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  const random = crypto.getRandomValues(new Uint8Array(5));
  let suffix = "";
  for (const byte of random) suffix += alphabet[byte % 36];
  return `${parseSlug(prefix)}-${suffix}`;
}
