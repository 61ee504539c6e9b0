/**
 * Opening a bottle: the one step every operation on an existing bottle
 * starts with — take its lock, read its state, load the registry, build its
 * backend — through one {@linkcode BottleState}.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import type { Agent } from "../state/agent.ts";
import { type LockOptions, type LockSlugOptions, lockState } from "../state/bottle_lock.ts";
import { BottleState, stateRoot } from "../state/bottle_state.ts";
import { type GetBackendOptions, loadRegistry, type Registry } from "../registry/registry.ts";

/** What opening a bottle takes from an operation's options. */
export interface OpenOptions extends GetBackendOptions, LockSlugOptions {
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** A bottle as an operation works on it. */
export interface LoadedBottle {
  /** The bottle: slug, metadata, state directory. */
  agent: Agent;
  /** The registry its backend came from. */
  registry: Registry;
  /** The backend that runs it. */
  backend: Backend;
}

/** A bottle opened by an operation: its lock is held until it is disposed. */
export interface OpenedBottle extends LoadedBottle, AsyncDisposable {}

/**
 * Takes the bottle's lock, then loads it ({@linkcode loadBottle}).
 *
 * @param slug The bottle's slug.
 * @param operation The operation, for a waiting process's message.
 * @param options Registry, state root, lock waiting, logging and prompting.
 * @param mode A shared lock (readers such as export).
 * @returns The bottle; disposing of it releases the lock.
 * @throws {BadInputError} When the slug is invalid, its state missing or corrupt, or its
 * backend unknown. Nothing is changed.
 * @throws {BottleBusyError} When another process holds the lock and `wait` is `false`.
 */
export async function openBottle(
  slug: string,
  operation: string,
  options: OpenOptions,
  mode: Pick<LockOptions, "shared"> = {},
): Promise<OpenedBottle> {
  const state = new BottleState(slug, options.root ?? stateRoot());
  const lock = await lockState(state, operation, options, mode);
  try {
    return { ...(await loadBottle(state, options)), [Symbol.asyncDispose]: lock.release };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/**
 * Reads the bottle's metadata, loads the registry and builds its backend,
 * for a caller that holds the lock.
 *
 * @param state The bottle's state directory.
 * @param options Registry, logging and prompting.
 * @returns The bottle.
 */
export async function loadBottle(state: BottleState, options: OpenOptions): Promise<LoadedBottle> {
  if (options.log) state.warn = options.log;
  const metadata = await state.readMetadata();
  const agent: Agent = { slug: state.slug, backend: metadata.backend ?? "", metadata, state };
  const registry = options.registry ?? await loadRegistry();
  return { agent, registry, backend: registry.getBackend(agent.backend, options) };
}
