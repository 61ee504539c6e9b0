/**
 * `bot-bottle backends`: what each backend of the registry is and whether it
 * can run here.
 *
 * @module
 */

import { BackendError } from "../errors.ts";
import { type GetFreezerOptions, loadRegistry, type Registry } from "../registry/registry.ts";

/** One backend in a listing. The field names are stable: scripts read them from `backends --json`. */
export interface BackendRow {
  /** The backend's name in the registry. */
  name: string;
  /** Its other names (`""` is the name of old state directories). */
  aliases: string[];
  /** Whether it can run bottles here: its CLI found, its engine answering, its version new enough. */
  available: boolean;
  /** The engine's version, or `null` when it could not be read. */
  version: string | null;
  /** What this version can do that others cannot, e.g. `live export`, `workspace packs`. */
  features: string[];
  /**
   * The snapshot modes `commit --mode` offers on it, from the registry:
   * `disk`, and `full` (memory and disk) where the backend captures memory.
   */
  modes: string[];
  /** Why it is not available (a missing CLI, a stopped engine, a version too old), else `null`. */
  problem: string | null;
  /** Where the registry came from: `built-in`, or the path `BOT_BOTTLE_REGISTRY` names. */
  registry: string;
}

/** Options for {@linkcode listBackends}. */
export interface ListBackendsOptions extends GetFreezerOptions {
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
}

/**
 * Asks every backend of the registry, side by side, whether it can run here
 * ({@linkcode Backend.probe}, each command under the normal timeout). A
 * backend that cannot is a row that says why; this never fails because of one.
 *
 * @param options The registry, and hooks for the commands run.
 * @returns One row per backend, in the registry's order.
 * @throws {BadInputError} When the registry cannot be loaded.
 */
export async function listBackends(options: ListBackendsOptions = {}): Promise<BackendRow[]> {
  const registry = options.registry ?? await loadRegistry();
  return await Promise.all(
    [...registry.backends.values()].map(async (entry): Promise<BackendRow> => {
      const row = { name: entry.name, aliases: entry.aliases };
      const modes = [...entry.modes];
      try {
        const probe = await registry.getBackend(entry.name, options).probe();
        return {
          ...row,
          available: probe.problem === undefined,
          version: probe.version ?? null,
          features: probe.features,
          modes,
          problem: probe.problem ?? null,
          registry: registry.source,
        };
      } catch (error) {
        if (!(error instanceof BackendError)) throw error;
        return {
          ...row,
          available: false,
          version: null,
          features: [],
          modes,
          problem: error.message,
          registry: registry.source,
        };
      }
    }),
  );
}
