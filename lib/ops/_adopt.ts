/**
 * Adopting a bottle from elsewhere: what `import` (from a file) and `pull`
 * (from a registry) share once they have read and checked what came in —
 * the refusals, the review of its untrusted state, the lock, the loading of
 * its snapshot, the consent, and one all-or-nothing write of its state.
 *
 * @module
 */

import { dirname } from "node:path";
import type { Backend, ImportContext } from "../backend.ts";
import { type BottleLockOptions, lockSlug } from "../state/bottle_lock.ts";
import { BottleState, METADATA_FILE } from "../state/bottle_state.ts";
import { BadInputError } from "../errors.ts";
import { grantHostAccess, type HostAccess, reviewForeignBottle } from "../state/foreign_bottle.ts";
import { validateMetadata } from "../state/metadata.ts";
import type { GetFreezerOptions } from "../registry/registry.ts";
import { parseRunConfig } from "../state/run_config.ts";
import { emptyHistory, type History, type SnapshotRecord } from "../state/snapshot_history.ts";
import { parseSlug } from "../state/slug.ts";

/** How a bottle from elsewhere is adopted (what `import` and `pull` take). */
export interface AdoptOptions extends GetFreezerOptions, BottleLockOptions {
  /** The slug to adopt it as (default: its own). */
  name?: string | undefined;
  /**
   * Adopt it into a bottle that already has state: its metadata and run
   * configuration are replaced, and the snapshot joins its history as the
   * newest. Nothing of it is deleted.
   */
  force?: boolean | undefined;
  /**
   * What to do with host access the bottle's run configuration asks for
   * (host paths, the engine socket, host networking): `"allow"` keeps it,
   * `"ask"` asks through `prompter`, `"drop"` (the default) drops it with a
   * warning naming each.
   */
  hostAccess?: "allow" | "ask" | "drop" | undefined;
}

/** What came in, read and checked for its form, not yet trusted. */
export interface ForeignBottle {
  /** Where it came from (a file, a reference), for messages. */
  source: string;
  /** How to do it again, for the consent's message (e.g. `import it again with …`). */
  again: string;
  /** The operation, for the lock and messages: `import`, `pull`. */
  operation: string;
  /** Its past tense: `imported`, `pulled`. */
  verb: string;
  /** Its slug where it was made. */
  slug: string;
  /** The snapshot. */
  snapshot: { id: string; createdAt: string; parent: string | null; message: string | null };
  /** The bot-bottle version that made it. */
  toolVersion: string;
  /** The snapshot's size, when known. */
  sizeBytes: number | null;
  /** Its `metadata.json`, parsed. */
  metadata: unknown;
  /** Its `run-config.json`, parsed, when it has one. */
  runConfig?: unknown;
  /** What else its history record holds here (its mode, where it was pulled from). */
  record?: Pick<SnapshotRecord, "mode" | "pushes">;
}

/** What adopting a bottle did. */
export interface AdoptResult {
  /** The bottle's slug here. */
  slug: string;
  /** Its backend. */
  backend: string;
  /** The snapshot's id here. */
  snapshotId: string;
  /** The snapshot's artifact here. */
  artifact: string;
  /** The command that resumes it. */
  resumeCommand: string;
  /** The host access its run configuration asked for, and whether it was granted. */
  hostAccess: { requested: HostAccess[]; granted: boolean };
  /** The environment it resumes with (`NAME=value`), which is kept. */
  env: string[];
  /** What was reset or dropped whatever the answer (e.g. `copy_cwd`). */
  resets: string[];
}

/**
 * Refuses what is wrong before anything is touched, then adopts the bottle:
 * takes the slug's lock, loads the snapshot through `load` (which registers
 * the undoing of its changes), asks for host access, and writes the state
 * directory in one step. On any failure, what was made is undone and a state
 * directory made here is removed: nothing is left.
 *
 * @param foreign What came in.
 * @param backend The backend it runs on here.
 * @param root The state root.
 * @param options Slug, force, host access, lock, log and prompter.
 * @param load Loads the snapshot as `context.id` of the bottle.
 * @param check Checks run after the reviews and before the lock (e.g. an artifact's names).
 * @returns What was adopted.
 */
export async function adoptForeignBottle(
  foreign: ForeignBottle,
  backend: Backend,
  root: string,
  options: AdoptOptions,
  load: (
    slug: string,
    state: BottleState,
    context: Pick<ImportContext, "id" | "previous" | "earlier" | "undo">,
  ) => Promise<{ artifact: string; current: string }>,
  check: () => Promise<void> = () => Promise.resolve(),
): Promise<AdoptResult> {
  const { source } = foreign;
  const slug = parseSlug(options.name ?? foreign.slug);
  const metadata = validateMetadata(foreign.metadata);
  if (!metadata.ok) {
    throw new BadInputError(`${source} holds an invalid metadata.json (${metadata.problems[0]})`);
  }
  const rawRunConfig = foreign.runConfig;
  if (rawRunConfig !== undefined && !parseRunConfig(rawRunConfig)) {
    throw new BadInputError(`${source} holds an invalid run-config.json`);
  }
  // It is untrusted: nothing of it reaches this host unless the user says yes.
  const review = reviewForeignBottle(metadata.metadata, rawRunConfig);
  await check();
  const state = new BottleState(slug, root);
  // The directories the lock may make: removed again, when empty, if this fails.
  const made = [];
  for (const dir of [root, dirname(state.dir)]) {
    if (!(await Deno.lstat(dir).then(() => true, () => false))) made.unshift(dir);
  }
  await using _lock = await lockSlug(slug, foreign.operation, { ...options, root }, {
    create: true,
  });
  // A directory without metadata (only the lock just taken) is no bottle yet.
  const exists = await Deno.lstat(state.path(METADATA_FILE)).then(() => true, () => false);
  if (exists && !options.force) {
    throw new BadInputError(
      `a bottle "${slug}" already exists here (${state.dir}); ${foreign.operation} it under ` +
        `another name with --name, or add the snapshot to it with --force`,
    );
  }
  const history: History = exists ? await state.readHistory(backend.name) : emptyHistory();
  let id = foreign.snapshot.id;
  for (let n = 2; history.snapshots.some((record) => record.id === id); n++) {
    id = `${foreign.snapshot.id}-${n}`;
  }
  const undo = new AsyncDisposableStack();
  let loaded: { artifact: string; current: string };
  let granted = false;
  let runConfig = review.safeRunConfig;
  try {
    const earlier = history.snapshots.map((record) => record.artifact);
    const previous = earlier.at(-1);
    loaded = await load(slug, state, {
      id,
      ...previous === undefined ? {} : { previous },
      earlier,
      undo,
    });
    // Asked once the artifact is known to be acceptable, so a yes is never wasted.
    granted = await grantHostAccess(slug, source, review.hostAccess, {
      mode: options.hostAccess ?? "drop",
      ...options.prompter === undefined ? {} : { prompter: options.prompter },
      ...options.log === undefined ? {} : { log: options.log },
      again: foreign.again,
    });
    if (granted) runConfig = review.grantedRunConfig;
    history.snapshots.push({
      id,
      createdAt: foreign.snapshot.createdAt,
      backend: backend.name,
      artifact: loaded.artifact,
      sizeBytes: foreign.sizeBytes,
      parent: foreign.snapshot.parent,
      toolVersion: foreign.toolVersion,
      message: foreign.snapshot.message,
      ...foreign.record,
    });
    history.resumedFrom = null;
    await state.recordCommit({
      metadata: {
        ...review.metadata,
        identity: slug,
        backend: backend.name,
        bottle_names: [backend.bottleName(slug)],
        ...backend.name === "docker" ? { compose_project: backend.bottleName(slug) } : {},
      },
      history,
      ...runConfig === undefined ? {} : { runConfig },
      committedImage: loaded.current,
    });
  } catch (error) {
    await backend.unwind(undo);
    if (!exists) {
      await Deno.remove(state.dir, { recursive: true }).catch(() => {});
      // Not recursive: a directory another process has since filled stays.
      for (const dir of made) await Deno.remove(dir).catch(() => {});
    }
    throw error;
  }
  for (const reset of review.resets) options.log?.(`note: ${reset}`);
  options.log?.(`${foreign.verb} snapshot ${id} of bottle "${slug}" (${loaded.artifact})`);
  options.log?.(`to resume it: bot-bottle resume ${slug}`);
  return {
    slug,
    backend: backend.name,
    snapshotId: id,
    artifact: loaded.artifact,
    resumeCommand: `bot-bottle resume ${slug}`,
    hostAccess: { requested: review.hostAccess, granted },
    env: runConfig?.env ?? [],
    resets: review.resets,
  };
}
