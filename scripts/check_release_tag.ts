#!/usr/bin/env -S deno run
/**
 * Checks that a release tag names the version in deno.json: the release
 * workflow runs it first, so a tag that does not match publishes nothing.
 *
 *   deno run scripts/check_release_tag.ts v0.1.0
 *
 * @module
 */

import { VERSION } from "../lib/version.ts";

/**
 * Why `tag` is not the release tag of this version, or `undefined` when it is.
 *
 * @param tag The tag, e.g. `v0.1.0`.
 * @param version The version (default: deno.json's).
 * @returns The problem, or `undefined`.
 */
export function releaseTagProblem(
  tag: string | undefined,
  version: string = VERSION,
): string | undefined {
  if (tag === `v${version}`) return undefined;
  return `tag ${JSON.stringify(tag ?? "")} does not name the version in deno.json, ${version}; ` +
    `tag the release v${version}, or change "version" in deno.json first`;
}

if (import.meta.main) {
  const problem = Deno.args.length === 1
    ? releaseTagProblem(Deno.args[0])
    : "usage: deno run scripts/check_release_tag.ts <tag>";
  if (problem) {
    console.error(`check_release_tag: error: ${problem}`);
    Deno.exit(1);
  }
  console.error(`tag ${Deno.args[0]} names version ${VERSION}`);
}
