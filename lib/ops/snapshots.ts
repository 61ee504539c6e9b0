/**
 * A bottle's snapshots: the operation behind `bot-bottle snapshots`.
 *
 * @module
 */

import { loadAgent } from "../state/agent.ts";
import { stateRoot } from "../state/bottle_state.ts";
import type { SnapshotRecord } from "../state/snapshot_history.ts";

/** One snapshot in a listing. The field names are stable (`snapshots --json`). */
export interface SnapshotRow extends Omit<SnapshotRecord, "mode"> {
  /** What it holds: `disk` (the filesystem) or `full` (memory and disk, processes and all). */
  mode: "disk" | "full";
  /** Whether it is the newest: what `committed-image` names and `resume` boots by default. */
  current: boolean;
  /** Whether the bottle was last resumed from it. */
  resumedFrom: boolean;
}

/**
 * Lists a bottle's snapshots, newest first.
 *
 * @param slug The bottle's slug.
 * @param options The state root, and where a warning about the state goes.
 * @returns The snapshots, newest first.
 * @throws {BadInputError} When the slug is invalid or its state missing or corrupt.
 *
 * @example
 * ```ts
 * import { snapshots } from "@bot-bottle/bot-bottle";
 * const [newest] = await snapshots("dev-abc12");
 * ```
 */
export async function snapshots(
  slug: string,
  options: { root?: string; log?: (line: string) => void } = {},
): Promise<SnapshotRow[]> {
  const agent = await loadAgent(slug, options.root ?? stateRoot());
  if (options.log) agent.state.warn = options.log;
  const history = await agent.state.readHistory(agent.backend || "docker");
  const newest = history.snapshots.at(-1)?.id;
  return history.snapshots.map((record) => ({
    ...record,
    mode: record.mode ?? "disk",
    current: record.id === newest,
    resumedFrom: record.id === history.resumedFrom,
  })).reverse();
}
