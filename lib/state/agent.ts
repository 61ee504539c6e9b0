/**
 * An agent's bottle as the freezer sees it: its slug, its state directory,
 * its metadata and the backend that runs it.
 *
 * @module
 */

import { BottleState, stateRoot } from "./bottle_state.ts";
import type { Metadata } from "./metadata.ts";

/** A bottle known from its state directory. */
export interface Agent {
  /** The bottle's slug. */
  slug: string;
  /**
   * The `backend` field of its metadata as written: `""` for state
   * directories that predate the field (an alias of `"docker"`).
   */
  backend: string;
  /** Its `metadata.json`, unknown fields included. */
  metadata: Metadata;
  /** Its state directory. */
  state: BottleState;
}

/**
 * Builds the agent for `slug` from its state directory.
 *
 * @param slug The bottle's slug.
 * @param root The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`).
 * @returns The agent.
 * @throws {BadInputError} When the slug is invalid, or the bottle has no
 * state or a corrupt `metadata.json`.
 */
export async function loadAgent(slug: string, root: string = stateRoot()): Promise<Agent> {
  const state = new BottleState(slug, root);
  const metadata = await state.readMetadata();
  return { slug: state.slug, backend: metadata.backend ?? "", metadata, state };
}
