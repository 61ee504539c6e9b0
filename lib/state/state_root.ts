/**
 * The state root, `~/.bot-bottle`, and the bottles that have a state
 * directory under it.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { BadInputError } from "../errors.ts";
import { isSlug } from "./slug.ts";

/**
 * Where bot-bottle keeps its state: `$BOT_BOTTLE_HOME` when set, else
 * `$HOME/.bot-bottle`, as the launcher derives it.
 *
 * @param env The environment to read (default: the process's).
 * @returns The absolute root directory.
 * @throws {BadInputError} When neither variable is set.
 */
export function stateRoot(env: Pick<Deno.Env, "get"> = Deno.env): string {
  const override = env.get("BOT_BOTTLE_HOME");
  if (override) return resolve(override);
  const home = env.get("HOME");
  if (!home) {
    throw new BadInputError(
      "cannot find the state directory: HOME is not set; set HOME or BOT_BOTTLE_HOME",
    );
  }
  return resolve(home, ".bot-bottle");
}

/**
 * Lists the slugs that have a state directory under `root`, sorted. Entries
 * whose names break the slug rule, and plain files, are skipped. A symbolic
 * link named like a slug is listed, never followed: reading its state then
 * reports it, so `ls` can show it as a problem.
 *
 * @param root The state root (default {@linkcode stateRoot}).
 * @returns The slugs.
 */
export async function listStateSlugs(root: string = stateRoot()): Promise<string[]> {
  const slugs: string[] = [];
  try {
    for await (const entry of Deno.readDir(join(root, "state"))) {
      if ((entry.isDirectory || entry.isSymlink) && isSlug(entry.name)) slugs.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return slugs.sort();
}
