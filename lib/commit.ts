/**
 * Committing a bottle by its slug: the operation behind `bot-bottle commit`.
 *
 * @module
 */

import { loadAgent } from "./agent.ts";
import type { CommitResult } from "./freezer.ts";
import { type GetFreezerOptions, loadRegistry, type Registry } from "./registry.ts";

/** Options for {@linkcode commit}. */
export interface CommitOptions extends GetFreezerOptions {
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
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
 *
 * @example
 * ```ts
 * import { commit } from "./commit.ts";
 * const result = await commit("dev-abc12", { log: console.error });
 * console.log(result.artifact); // bot-bottle-committed-dev-abc12:latest
 * ```
 */
export async function commit(slug: string, options: CommitOptions = {}): Promise<CommitResult> {
  const agent = await loadAgent(slug, options.root);
  const registry = options.registry ?? await loadRegistry();
  return await registry.getFreezer(agent.backend, options).commit(agent);
}
