// The check every read and write of a bottle's state makes first: its state
// directory must be a directory, not a symbolic link (never followed) nor
// anything else.

import { BadInputError } from "../errors.ts";

/**
 * Checks the state directory `dir` of bottle `slug`.
 *
 * @returns Whether it exists.
 * @throws {BadInputError} When it is a symbolic link or not a directory.
 */
export async function checkStateDirectory(dir: string, slug: string): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new BadInputError(
      `cannot read the state directory ${dir}: ${(error as Error).message}; ` +
        `fix its permissions`,
      { cause: error },
    );
  }
  if (info.isSymlink) {
    const target = await Deno.readLink(dir).catch(() => undefined);
    throw new BadInputError(
      `the state directory of bottle "${slug}", ${dir}, is a symbolic link` +
        `${target === undefined ? "" : ` to ${target}`}, and bot-bottle does not follow it; ` +
        `replace the link with the bottle's own directory, or remove the link`,
    );
  }
  if (!info.isDirectory) {
    throw new BadInputError(
      `the state directory of bottle "${slug}", ${dir}, is not a directory; ` +
        `remove it, or restore the bottle's state`,
    );
  }
  return true;
}
