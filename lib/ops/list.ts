/**
 * Listing the bottles: the operation behind `bot-bottle ls`.
 *
 * @module
 */

import { type Agent, loadAgent } from "../state/agent.ts";
import { listStateSlugs, stateRoot } from "../state/bottle_state.ts";
import { BackendError, BadInputError } from "../errors.ts";
import type { InventoryEntry } from "../backend.ts";
import { type GetFreezerOptions, loadRegistry, type Registry } from "../registry/registry.ts";

/** One bottle in a listing. The field names are stable: scripts read them from `ls --json`. */
export interface BottleRow {
  /** The bottle's slug. */
  slug: string;
  /** Its backend as resolved (`docker` for legacy `""`), or the unknown name it has. */
  backend: string;
  /**
   * `running`, `stopped`, `absent` (no container or machine), `unavailable`
   * (its backend's tool is missing or its engine down), or `unknown` (the
   * state directory could not be read, or names an unknown backend).
   */
  state: "running" | "stopped" | "absent" | "unavailable" | "unknown";
  /** Its snapshot, or `null` when it has none. */
  snapshot: {
    /** The artifact reference from `committed-image`. */
    artifact: string;
    /** When it was recorded (ISO 8601), from `committed-image`'s modification time. */
    committedAt: string | null;
    /** Its size in bytes, when the backend tells. */
    sizeBytes: number | null;
    /** Whether it still exists in the backend (`null` when the backend is unavailable). */
    exists: boolean | null;
  } | null;
  /** Whether `.preserve` is set. */
  preserved: boolean;
  /** When it was started (`started_at` of its metadata), or `null`. */
  startedAt: string | null;
  /** Why `state` is `unavailable` or `unknown`, else `null`. */
  problem: string | null;
}

/** Options for {@linkcode list}. */
export interface ListOptions extends GetFreezerOptions {
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/**
 * Lists the bottles that have a state directory, joined with what their
 * backends report. Each backend is asked a fixed number of times, however
 * many bottles it runs; a backend that cannot be asked marks its rows
 * `unavailable` instead of failing the listing.
 *
 * @param options Registry and state root.
 * @returns One row per bottle, by slug.
 *
 * @example
 * ```ts
 * import { list } from "@bot-bottle/bot-bottle";
 * for (const row of await list()) console.log(row.slug, row.state);
 * ```
 */
export async function list(options: ListOptions = {}): Promise<BottleRow[]> {
  const registry = options.registry ?? await loadRegistry();
  const root = options.root ?? stateRoot();
  const rows: BottleRow[] = [];
  const groups = new Map<
    string,
    { agent: Agent; row: BottleRow; artifact: string | undefined }[]
  >();
  for (const slug of await listStateSlugs(root)) {
    const row: BottleRow = {
      slug,
      backend: "",
      state: "unknown",
      snapshot: null,
      preserved: false,
      startedAt: null,
      problem: null,
    };
    rows.push(row);
    let agent: Agent;
    let committed: { reference: string; recordedAt: Date | null } | undefined;
    try {
      // A state directory that cannot be read (corrupt, a symbolic link, …) is one row's problem.
      agent = await loadAgent(slug, root);
      row.startedAt = agent.metadata.started_at ?? null;
      row.preserved = await agent.state.isPreserved();
      committed = await agent.state.readCommittedImageRecord();
    } catch (error) {
      if (!(error instanceof BadInputError)) throw error;
      row.problem = error.message;
      continue;
    }
    const artifact = committed?.reference;
    if (committed !== undefined) {
      row.snapshot = {
        artifact: committed.reference,
        committedAt: committed.recordedAt?.toISOString() ?? null,
        sizeBytes: null,
        exists: null,
      };
    }
    try {
      row.backend = registry.resolve(agent.backend).name;
    } catch (error) {
      row.backend = agent.backend;
      row.problem = (error as Error).message;
      continue;
    }
    groups.set(row.backend, [...groups.get(row.backend) ?? [], { agent, row, artifact }]);
  }
  for (const [backend, members] of groups) {
    let inventory: Map<string, InventoryEntry>;
    try {
      inventory = await registry.getBackend(backend, options).inventory(
        members.map(({ agent, artifact }) => ({
          slug: agent.slug,
          ...artifact === undefined ? {} : { artifact },
        })),
      );
    } catch (error) {
      if (!(error instanceof BackendError)) throw error;
      for (const { row } of members) {
        row.state = "unavailable";
        row.problem = error.message;
      }
      continue;
    }
    for (const { agent, row } of members) {
      const entry = inventory.get(agent.slug);
      if (!entry) continue;
      row.state = entry.state;
      if (row.snapshot) {
        row.snapshot.exists = entry.snapshotExists;
        row.snapshot.sizeBytes = entry.snapshotBytes ?? null;
      }
    }
  }
  return rows;
}
