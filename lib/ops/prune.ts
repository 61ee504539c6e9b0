/**
 * Removing old snapshots: the operation behind `bot-bottle prune`, and the
 * automatic retention after a commit.
 *
 * @module
 */

import { loadAgent } from "../state/agent.ts";
import { type LoadedBottle, openBottle } from "./open.ts";
import type { BottleLockOptions } from "../state/bottle_lock.ts";
import { listStateSlugs, stateRoot } from "../state/bottle_state.ts";
import { BadInputError, BottleBusyError } from "../errors.ts";
import { type GetFreezerOptions, loadRegistry, type Registry } from "../registry/registry.ts";
import type { History, SnapshotRecord } from "../state/snapshot_history.ts";

/** How many snapshots a bottle keeps when nothing says otherwise. */
export const DEFAULT_KEEP = 10;

/**
 * How many snapshots to keep after a commit: `BOT_BOTTLE_KEEP_SNAPSHOTS`
 * (0 turns automatic retention off), else {@linkcode DEFAULT_KEEP}.
 *
 * @throws {BadInputError} When the variable is not a whole number.
 */
export function retention(env: Pick<Deno.Env, "get"> = Deno.env): number {
  const value = env.get("BOT_BOTTLE_KEEP_SNAPSHOTS");
  if (value === undefined || value === "") return DEFAULT_KEEP;
  if (!/^\d+$/.test(value)) {
    throw new BadInputError(
      `BOT_BOTTLE_KEEP_SNAPSHOTS must be a whole number (0 keeps every snapshot), ` +
        `not ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** Options for {@linkcode prune}. */
export interface PruneOptions extends GetFreezerOptions, BottleLockOptions {
  /** How many of the newest snapshots to keep (at least 1; default {@linkcode retention}). */
  keep?: number;
  /** Only say what would go. */
  dryRun?: boolean;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode prune} removed (or, with `dryRun`, would remove). */
export interface PruneResult {
  /** The bottle's slug. */
  slug: string;
  /** The snapshots removed, oldest first. */
  removed: SnapshotRecord[];
  /** Their sizes added up; on Docker snapshots share layers, so at most this is freed. */
  freedBytes: number;
  /** Whether nothing was removed because it was a dry run. */
  dryRun: boolean;
  /**
   * Snapshots the backend holds that the history does not record, left by a
   * commit or import that could not clean up (removed too, unless a dry run).
   */
  orphans: string[];
  /**
   * Whether what `committed-image` names pointed at another snapshot than the
   * newest (a commit or import that could not clean up moved it), and was
   * pointed back (unless a dry run).
   */
  repointed: boolean;
}

/**
 * Removes a bottle's older snapshots, keeping the newest `keep`. The newest
 * snapshot (the one `committed-image` names) and the one the bottle now
 * running was resumed from are never removed. Each snapshot's record goes
 * before the snapshot, so an interruption never leaves a record of a snapshot
 * that is gone; what it leaves unrecorded, the next prune removes.
 *
 * @param slug The bottle's slug.
 * @param options How many to keep, and whether to only look.
 * @returns What was removed.
 * @throws {BadInputError} When `keep` is not a whole number of at least 1,
 * or the bottle has no state.
 *
 * @example
 * ```ts
 * import { prune } from "@bot-bottle/bot-bottle";
 * const { removed, freedBytes } = await prune("dev-abc12", { keep: 3 });
 * ```
 */
export async function prune(slug: string, options: PruneOptions = {}): Promise<PruneResult> {
  checkKeep(options.keep ?? retention());
  await using bottle = await openBottle(slug, "prune", options);
  return await pruneHeld(bottle, options);
}

function checkKeep(keep: number): void {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new BadInputError(`--keep must be a whole number of at least 1, not ${keep}`);
  }
}

/**
 * {@linkcode prune} for a caller that holds the bottle's lock (a commit's
 * retention).
 *
 * @param bottle The bottle, opened by the caller.
 * @param options How many to keep, and whether to only look.
 * @param leftovers Also look for what a failed commit or import left (default
 * `true`; a commit's retention, right after a commit that succeeded, skips it).
 * @param written The history as the caller has just written it, under the same
 * lock (a commit's retention), so it is not read again; default: read it.
 * @returns What was (or would be) removed.
 */
export async function pruneHeld(
  { agent, backend }: Pick<LoadedBottle, "agent" | "backend">,
  options: PruneOptions = {},
  leftovers = true,
  written?: History,
): Promise<PruneResult> {
  const keep = options.keep ?? retention();
  checkKeep(keep);
  const { slug } = agent;
  const history = written ?? await agent.state.readHistory(backend.name);
  const protect = new Set(history.snapshots.slice(-keep).map((record) => record.id));
  // The snapshot the bottle runs from is kept while the bottle is there; asking the backend
  // whether it is there matters only when that snapshot is not among the newest anyway.
  const resumedFrom = history.resumedFrom;
  if (
    resumedFrom && !protect.has(resumedFrom) && (await backend.bottleStatus(slug)) !== "absent"
  ) {
    protect.add(resumedFrom);
  }
  const removed = history.snapshots.filter((record) => !protect.has(record.id));
  const result: PruneResult = {
    slug,
    removed,
    freedBytes: removed.reduce((sum, record) => sum + (record.sizeBytes ?? 0), 0),
    dryRun: options.dryRun === true,
    orphans: leftovers
      ? await backend.orphanSnapshots(agent, history.snapshots.map((record) => record.artifact))
      : [],
    repointed: false,
  };
  // What committed-image names matters to the repair of leftovers and to the removals only.
  const current = leftovers || removed.length > 0
    ? await agent.state.readCommittedImage()
    : undefined;
  const newest = history.snapshots.at(-1)?.artifact;
  if (leftovers && current !== undefined && newest !== undefined) {
    result.repointed = await backend.repointCurrent(agent, current, newest, options.dryRun);
  }
  if (options.dryRun) return result;
  for (const orphan of result.orphans) await backend.removeOwnSnapshot(agent, orphan);
  if (removed.length > 0) {
    // The records go first, in one write (not one a snapshot: pruning 10,000 of them rewrote
    // a 2 MB file 10,000 times), so the history never names a snapshot that is gone. When the
    // removals stop (a failure, an interrupt), the records of the snapshots still there go
    // back, in one more write: nothing is left unrecorded either.
    const all = history.snapshots;
    const gone = new Set(removed.map((record) => record.id));
    history.snapshots = all.filter((each) => !gone.has(each.id));
    await agent.state.writeHistory(history);
    let next = 0;
    try {
      for (const record of removed) {
        if (record.artifact !== current) await backend.removeOwnSnapshot(agent, record.artifact);
        next++;
      }
    } catch (error) {
      await backend.cleanup(async () => {
        const still = new Set<string>();
        for (const record of removed.slice(next)) {
          if (record.artifact === current || await backend.snapshotExists(record.artifact)) {
            still.add(record.id);
          }
        }
        history.snapshots = all.filter((each) => !gone.has(each.id) || still.has(each.id));
        await agent.state.writeHistory(history);
      }).catch(() => {}); // then they are unrecorded, and the next prune removes them
      throw error;
    }
  }
  return result;
}

/**
 * Prunes every bottle that has state, each as {@linkcode prune} does.
 * Bottles whose state cannot be read are skipped, and with `wait: false`
 * so are bottles another process works on (each said through `log`).
 *
 * @param options How many to keep, and whether to only look.
 * @returns One result per bottle that has snapshots.
 */
export async function pruneAll(options: PruneOptions = {}): Promise<PruneResult[]> {
  const registry = options.registry ?? await loadRegistry();
  const root = options.root ?? stateRoot();
  const results: PruneResult[] = [];
  for (const slug of await listStateSlugs(root)) {
    const agent = await loadAgent(slug, root).catch(() => undefined);
    if (!agent) continue;
    try {
      results.push(await prune(slug, { ...options, registry, root }));
    } catch (error) {
      // With wait: false, a busy bottle is skipped rather than ending the round.
      if (!(error instanceof BottleBusyError)) throw error;
      options.log?.(`skipped ${slug}: ${error.message}`);
    }
  }
  return results;
}
