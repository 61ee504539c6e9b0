/**
 * What a bottle owns, whatever its state files say: the one rule every
 * removal (prune, destroy, automatic retention, undo steps, leftover
 * clean-up) checks before it removes a snapshot. On image backends a
 * snapshot is the bottle's own when it is a tag of the bottle's snapshot
 * repository (`bot-bottle-committed-<slug>:<tag>` by default, the backend's
 * `naming`); on file backends (smolvm) when it is
 * a regular file inside the bottle's state directory, reached without
 * following a link.
 *
 * @module
 */

import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { fullReference } from "../archive/artifact_names.ts";

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Why the image `reference` is not a snapshot of the bottle whose snapshot
 * repository is `repository`, or `undefined` when it is (named
 * `<repository>:<tag>`).
 *
 * @param repository The bottle's snapshot repository, e.g. `bot-bottle-committed-dev-abc12`.
 * @param reference The image, as a state file names it.
 * @returns The problem, for a warning.
 */
export function imageOwnershipProblem(repository: string, reference: string): string | undefined {
  const tag = reference.slice(reference.lastIndexOf(":") + 1);
  const own = TAG.test(tag) &&
    fullReference(reference) === fullReference(`${repository}:${tag}`);
  return own ? undefined : `it is not named ${repository}:<tag>`;
}

/**
 * Why the file `path` is not a snapshot file of the bottle whose state
 * directory is `stateDir`, or `undefined` when it is: inside `stateDir`,
 * ending in `suffix`, and every part of the way below `stateDir` a directory
 * or (the last) a regular file, none a symbolic link. A file that does not
 * exist is the bottle's (removing it changes nothing).
 *
 * @param stateDir The bottle's state directory.
 * @param path The file, as a state file names it.
 * @param suffix The ending every snapshot file has, e.g. `.smolmachine`.
 * @returns The problem, for a warning.
 */
export async function fileOwnershipProblem(
  stateDir: string,
  path: string,
  suffix = "",
): Promise<string | undefined> {
  const inside = relative(stateDir, resolve(stateDir, path));
  if (
    !isAbsolute(path) || inside === "" || inside.startsWith("..") || isAbsolute(inside) ||
    resolve(path) !== path.replace(/\/+$/, "")
  ) {
    return `it is not inside the bottle's state directory ${stateDir}`;
  }
  if (!path.endsWith(suffix)) return `its name does not end in ${suffix}`;
  let at = stateDir;
  const parts = inside.split(sep);
  for (const [n, part] of parts.entries()) {
    at = join(at, part);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(at);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    if (info.isSymlink) return `${at} is a symbolic link, which bot-bottle does not follow`;
    const last = n === parts.length - 1;
    if (last ? !info.isFile : !info.isDirectory) {
      return `${at} is not a ${last ? "regular file" : "directory"}`;
    }
  }
  return undefined;
}
