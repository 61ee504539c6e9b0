/**
 * The tool's version, read from `deno.json` (the one place it is written).
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** bot-bottle's version, e.g. `"0.1.0"`. */
export const VERSION: string = denoJson.version;

/**
 * What `bot-bottle --version` prints: the tool's version, the Deno version
 * running it (the one it was compiled with, for a binary) and the target.
 *
 * @returns One line, e.g. `bot-bottle 0.1.0 (deno 2.9.6, x86_64-unknown-linux-gnu)`.
 */
export function versionText(): string {
  return `bot-bottle ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.target})`;
}
