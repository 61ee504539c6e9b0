/**
 * Resuming a bottle from its snapshot: the operation behind `bot-bottle resume`.
 *
 * @module
 */

import { shellHint } from "./exec.ts";
import { openBottle } from "./open.ts";
import type { BottleLockOptions } from "../state/bottle_lock.ts";
import { BadInputError, Cancelled } from "../errors.ts";
import { terminalPrompter } from "../prompter.ts";
import { checkStaysUp } from "./stays_up.ts";
import { findSnapshot } from "../state/snapshot_history.ts";
import { type GetFreezerOptions, type Registry } from "../registry/registry.ts";

/** Options for {@linkcode resume}. */
export interface ResumeOptions extends GetFreezerOptions, BottleLockOptions {
  /** The snapshot: an id, or `~N` for N back from the newest (default: the newest). */
  at?: string;
  /** Replace a bottle of that name that is still running (after a confirmation). */
  replace?: boolean;
  /** Clear `.preserve`, so the launcher's session end may remove the state directory. */
  noPreserve?: boolean;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode resume} did. */
export interface ResumeResult {
  /** The bottle's slug. */
  slug: string;
  /** Its backend. */
  backend: string;
  /** The id of the snapshot it booted from. */
  snapshotId: string;
  /** The snapshot's artifact. */
  artifact: string;
  /** What the snapshot held: `disk`, or `full` (memory and disk: its processes carried on). */
  mode: "disk" | "full";
  /** Its name on the backend, `bot-bottle-<slug>`. */
  bottle: string;
  /** How long booting took, in milliseconds. */
  elapsedMs: number;
  /** A command that opens a shell in it: `bot-bottle exec <slug>`. */
  shellCommand: string;
}

/**
 * Boots the bottle `slug` from its committed snapshot, on the backend its
 * metadata names, with the run configuration its last commit recorded. The
 * snapshot reference is never changed or deleted, and `.preserve` stays
 * (it is created when missing) unless `noPreserve` is set, so the launcher's
 * session-end cleanup cannot remove the directory that names the snapshot.
 *
 * @param slug The bottle's slug.
 * @param options Replace, preserve, logging and prompting.
 * @returns The resumed bottle and how long it took.
 * @throws {BadInputError} When the bottle has no state, no snapshot, a snapshot
 * that is gone, or a running bottle of that name and no `replace`.
 * @throws {Cancelled} When the user declined replacing a running bottle.
 * @throws {BackendError} When the backend failed, or the bottle did not come up.
 * @throws {BottleBusyError} When another process works on the bottle and `wait` is `false`.
 *
 * @example
 * ```ts
 * import { resume } from "@bot-bottle/bot-bottle";
 * const { elapsedMs } = await resume("dev-abc12");
 * ```
 */
export async function resume(slug: string, options: ResumeOptions = {}): Promise<ResumeResult> {
  await using opened = await openBottle(slug, "resume", options);
  const { agent, backend } = opened;
  const log = options.log ?? (() => {});
  const history = await agent.state.readHistory(backend.name);
  if (history.snapshots.length === 0) {
    throw new BadInputError(
      `bottle "${slug}" has no snapshot to resume; commit it first: bot-bottle commit ${slug}`,
    );
  }
  const snapshot = findSnapshot(history, options.at ?? "~0", slug);
  const artifact = snapshot.artifact;
  await backend.checkResume(agent, artifact);
  // Three reads side by side (they change nothing), their failures reported in this order.
  const [exists, readConfig, probed] = await Promise.allSettled([
    backend.snapshotExists(artifact),
    agent.state.readRunConfig(),
    backend.bottleStatus(slug),
  ]);
  if (exists.status === "rejected") throw exists.reason;
  if (!exists.value) {
    throw new BadInputError(
      `the snapshot ${snapshot.id} of bottle "${slug}", ${artifact}, no longer exists on ` +
        `${backend.name}; commit the bottle again, resume another snapshot, or import one`,
    );
  }
  if (readConfig.status === "rejected") throw readConfig.reason;
  if (probed.status === "rejected") throw probed.reason;
  const config = readConfig.value;
  const bottle = backend.bottleName(slug);
  const status = probed.value;
  if (status === "running") {
    if (!options.replace) {
      throw new BadInputError(
        `bottle "${slug}" is still running as ${bottle}; pass --replace to stop and replace it ` +
          `with one resumed from its snapshot`,
      );
    }
    const prompter = options.prompter ?? terminalPrompter({ interactive: false });
    const yes = await prompter.confirm(
      `bottle "${slug}" is running; replacing it ends its agent's session and loses every ` +
        `change since its snapshot; replace it?`,
      `resuming bottle "${slug}" replaces its running bottle, losing every change since its ` +
        `snapshot`,
    );
    if (!yes) {
      throw new Cancelled(`resume cancelled; bottle "${slug}" is still running`);
    }
  }
  if (status !== "absent") {
    log(`removing the ${status} ${bottle} first`);
    await backend.removeBottle(slug);
  }
  const started = performance.now();
  let elapsedMs = 0;
  let booted = false;
  try {
    await backend.resumeBottle(agent, artifact, config);
    elapsedMs = performance.now() - started;
    booted = true;
    await checkStaysUp(backend, slug, artifact);
  } catch (error) {
    // No half-started bottle: an interrupted or failed boot is removed again.
    const removed = await backend.cleanup(async () => {
      if ((await backend.bottleStatus(slug)) === "absent") return false;
      await backend.removeBottle(slug);
      return true;
    }).catch(() => false);
    if (removed) {
      log(
        !booted
          ? `bottle "${slug}" was not resumed; the half-started ${bottle} was removed; its ` +
            `snapshot ${snapshot.id} and state are unchanged: run resume again`
          : `bottle "${slug}" did not stay up; the stopped ${bottle} was removed; its snapshot ` +
            `${snapshot.id} and state are unchanged`,
      );
    }
    throw error;
  }
  history.resumedFrom = snapshot.id;
  await agent.state.writeHistory(history);
  if (options.noPreserve) await agent.state.clearPreserved();
  else await agent.state.markPreserved();
  log(
    `resumed bottle "${slug}" from snapshot ${snapshot.id} (${artifact}) in ` +
      `${(elapsedMs / 1000).toFixed(1)} s`,
  );
  const mode = snapshot.mode ?? "disk";
  if (mode === "full") {
    log(`a full snapshot: its memory came back, and its processes carried on where they were`);
  }
  log(`to get a shell in it: ${shellHint(slug)}`);
  return {
    slug,
    backend: backend.name,
    snapshotId: snapshot.id,
    artifact,
    mode,
    bottle,
    elapsedMs,
    shellCommand: shellHint(slug),
  };
}
