/**
 * Committing a bottle by its slug: the operation behind `bot-bottle commit`.
 *
 * @module
 */

import { openBottle } from "./open.ts";
import type { BottleLockOptions } from "../state/bottle_lock.ts";
import type { CommitResult } from "../freezer.ts";
import { type GetFreezerOptions, type Registry } from "../registry/registry.ts";

/** Options for {@linkcode commit}. */
export interface CommitOptions extends GetFreezerOptions, BottleLockOptions {
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
  /** A note kept with the snapshot in the history. */
  message?: string;
  /**
   * `false` to snapshot a Docker bottle without pausing it (`docker commit
   * --pause=false`): the agent works on, and files it is writing may be caught
   * half-way. Refused on the other backends.
   */
  pause?: boolean;
  /**
   * How many snapshots to keep afterwards; older ones are pruned once the
   * commit succeeded (default: `BOT_BOTTLE_KEEP_SNAPSHOTS`, else 10; 0 keeps all).
   */
  keep?: number;
}

/**
 * Snapshots the bottle `slug` with the freezer of the backend its metadata
 * names (`""` or none: docker), and records the snapshot in its state
 * directory.
 *
 * @param slug The bottle's slug.
 * @param options Registry, state root, logging and prompting.
 * @returns What was committed, with the resume and export commands.
 * @throws {BadInputError} When the slug is invalid, its state missing or
 * corrupt, or its backend unknown. Nothing is changed.
 * @throws {BackendError} When the backend failed. Nothing is recorded.
 * @throws {CommitCancelled} When the user declined a confirmation.
 * @throws {BottleBusyError} When another process works on the bottle and
 * `wait` is `false`. Nothing is changed.
 *
 * @example
 * ```ts
 * import { commit } from "@bot-bottle/bot-bottle";
 * const result = await commit("dev-abc12", { log: console.error });
 * console.log(result.artifact); // bot-bottle-committed-dev-abc12:latest
 * ```
 */
export async function commit(slug: string, options: CommitOptions = {}): Promise<CommitResult> {
  await using bottle = await openBottle(slug, "commit", options);
  const freezer = bottle.registry.freezerOver(bottle.backend, options);
  return await freezer.commit(bottle.agent, {
    ...options.message === undefined ? {} : { message: options.message },
    ...options.pause === false ? { pause: false } : {},
    ...options.keep === undefined ? {} : { keep: options.keep },
  });
}
