/**
 * The freezer: the flow every backend shares to snapshot a bottle and record
 * the snapshot where the launcher finds it. {@linkcode Freezer.commit} reads
 * top to bottom: the backend's snapshot, then the record, then the hints. A
 * backend's freezer subclass makes the snapshot, over its {@linkcode Backend}.
 *
 * @module
 */

import { type Agent, loadAgent } from "./state/agent.ts";
import type { Backend, BackendClass, BackendOptions, BackendSpec } from "./backend.ts";
import { BadInputError, BotBottleError, Interrupted } from "./errors.ts";
import { pruneHeld, retention } from "./ops/prune.ts";
import type { RunConfig } from "./state/run_config.ts";
import {
  type History,
  newSnapshotId,
  snapshotIdBase,
  type SnapshotRecord,
} from "./state/snapshot_history.ts";
import type { SnapshotMode } from "./registry/registry_schema.ts";
import { VERSION } from "./version.ts";

export type { SnapshotMode } from "./registry/registry_schema.ts";
export type {
  BottleStatus,
  ImportContext,
  InventoryEntry,
  PlatformContext,
  StartSpec,
  StopSpec,
} from "./backend.ts";

/** What a successful commit produced. */
export interface CommitResult {
  /** The bottle's slug. */
  slug: string;
  /** The backend's registry name (aliases resolved), e.g. `"docker"`. */
  backend: string;
  /** The new snapshot's id in the bottle's history, e.g. `20261124T141500Z`. */
  snapshotId: string;
  /** What the snapshot holds: `disk` (the filesystem) or `full` (memory and disk). */
  mode: SnapshotMode;
  /** The artifact reference written to `committed-image`. */
  artifact: string;
  /** The command that resumes the bottle from this snapshot. */
  resumeCommand: string;
  /** How to move the snapshot to another machine: `bot-bottle export <slug>` (verified, with its state). */
  exportCommand: string;
  /**
   * The backend's own command that copies the artifact alone out (e.g.
   * `docker save -o …`), for the launcher's users; `bot-bottle export` is the
   * verified path that also carries the bottle's state.
   */
  backendExportCommand: string;
  /** The ids of older snapshots removed by automatic retention after the commit. */
  pruned: string[];
  /**
   * What the snapshot could not hold that the user would expect it to, one
   * sentence each (e.g. smolvm's `/workspace` on a smolvm that cannot pack
   * it); empty when it holds everything the backend captures.
   */
  warnings: string[];
}

/** What a backend's snapshot produced. */
export interface Frozen {
  /** This snapshot's own artifact, e.g. `bot-bottle-committed-<slug>:<id>`. */
  artifact: string;
  /**
   * What `committed-image` names from now on, when it is not `artifact`
   * (e.g. the `:latest` tag that moved to this snapshot).
   */
  current?: string;
  /** The snapshot's size in bytes, when the backend tells. */
  sizeBytes?: number;
  /** How the bottle ran, for `resume` (recorded as `run-config.json`). */
  runConfig?: RunConfig;
  /** What the snapshot could not hold (see {@linkcode CommitResult.warnings}). */
  warnings?: string[];
}

/** What {@linkcode Freezer.freeze} is given besides the bottle. */
export interface FreezeContext {
  /** The new snapshot's id, for the artifact's name. */
  id: string;
  /**
   * What to capture: `disk`, or `full` (memory and disk) where the freezer's
   * {@linkcode FreezerClass.modes} has it.
   */
  mode: SnapshotMode;
  /** The artifact of the newest snapshot before this one, if there is one. */
  previous?: string;
  /** The artifacts of the bottle's snapshots before this one, oldest first. */
  earlier: readonly string[];
  /**
   * Steps that undo what the freeze made so far. When the commit fails or
   * is interrupted after a step was added, every step runs, last first, with
   * backend commands no longer aborted by the interrupt; a step that fails
   * is reported and the others still run. A freeze adds a step right after
   * each change it makes (an image made, a tag moved, a file linked).
   */
  undo: AsyncDisposableStack;
  /**
   * `false` to snapshot without pausing the bottle (only where
   * {@linkcode Freezer.commitsWithoutPause}); files being written may then be
   * caught half-way.
   */
  pause?: boolean;
}

/** Options every freezer takes (those of its backend). */
export type FreezerOptions = BackendOptions;

/** The registry entry a freezer's backend is built from. */
export type FreezerSpec = BackendSpec;

/** A freezer class, as a backend module exports it by default. */
export interface FreezerClass {
  /** Builds the freezer over its backend. */
  new (backend: Backend, options?: FreezerOptions): Freezer;
  /** The backend class the freezer snapshots with. */
  readonly Backend: BackendClass;
  /** The snapshot modes it implements; the registry's `modes` may offer only these. */
  readonly modes: readonly SnapshotMode[];
}

/**
 * The base class of every backend's freezer. {@linkcode Freezer.commit} owns
 * the flow: the subclass's {@linkcode Freezer.freeze} makes the snapshot with
 * the backend, then `committed-image` and the history are written, then the
 * bottle is marked preserved, then the resume and export hints are logged,
 * then automatic retention prunes old snapshots. Nothing is recorded unless
 * the snapshot succeeded.
 *
 * @typeParam B The backend the subclass snapshots with.
 */
export abstract class Freezer<B extends Backend = Backend> {
  /** The snapshot modes this freezer implements (see {@linkcode FreezerClass.modes}). */
  static readonly modes: readonly SnapshotMode[] = ["disk"];

  /** Whether {@linkcode FreezeContext.pause} `false` is honoured (Docker's `--pause=false`). */
  readonly commitsWithoutPause: boolean = false;

  /** The backend that runs the bottles this freezer snapshots. */
  readonly bottles: B;
  /** Where user-facing lines go. */
  protected readonly log: (line: string) => void;

  /**
   * Builds the freezer over its backend; {@linkcode Registry.getFreezer} calls this.
   *
   * @param bottles The backend that runs the bottles.
   * @param options Where user-facing lines go (default: the backend's).
   */
  constructor(bottles: B, options: FreezerOptions = {}) {
    this.bottles = bottles;
    this.log = options.log ?? bottles.log;
  }

  /** The backend's registry name. */
  get backend(): string {
    return this.bottles.name;
  }

  /** Every `backend` metadata value this freezer serves. */
  get names(): readonly string[] {
    return this.bottles.names;
  }

  /**
   * Snapshots the agent's bottle into an artifact. Whatever it makes, it
   * registers the undoing of in `context.undo`, so a failure or an interrupt
   * later in the commit leaves no half-made artifact behind.
   *
   * @param agent The bottle.
   * @param context The new snapshot's id, the previous snapshot, and the undo steps.
   * @returns The artifact reference to record in `committed-image`, and the
   * bottle's run configuration when the backend can read it.
   * @throws {CommitCancelled} When the user declined a confirmation.
   * @throws {BackendError} When the backend failed.
   */
  protected abstract freeze(agent: Agent, context: FreezeContext): Promise<string | Frozen>;

  /**
   * Gives a snapshot made before histories were kept (the `legacy` one,
   * named only by `committed-image`) an artifact of its own, before a new
   * commit moves what `committed-image` names. The default keeps it as it is.
   *
   * @param agent The bottle.
   * @param artifact The legacy snapshot's artifact.
   * @returns The artifact that keeps it from now on.
   */
  protected adoptLegacy(_agent: Agent, artifact: string): Promise<string> {
    return Promise.resolve(artifact);
  }

  /**
   * The backend's own command that copies the artifact out (the commit's
   * `backendExportCommand`). The default names `bot-bottle export`; a
   * backend may name its own.
   *
   * @param agent The bottle.
   * @param _artifact The artifact reference.
   */
  exportCommand(agent: Agent, _artifact: string): string {
    return `bot-bottle export ${agent.slug}`;
  }

  /** The command that resumes the bottle from its snapshot. */
  resumeCommand(agent: Agent): string {
    return `bot-bottle resume ${agent.slug}`;
  }

  /**
   * Snapshots the bottle and records the snapshot in its state directory,
   * then prunes the snapshots beyond the newest `keep` (default:
   * `BOT_BOTTLE_KEEP_SNAPSHOTS`, else 10; 0 keeps all).
   *
   * @param agent The bottle; its `backend` must be one this freezer serves.
   * @returns What was committed, with the resume and export commands.
   * @throws {BadInputError} When the bottle belongs to another backend.
   * @throws {CommitCancelled} When the user declined a confirmation; nothing was written.
   * @throws {BackendError} When the backend failed; nothing was written.
   */
  async commit(
    agent: Agent,
    options: { message?: string; pause?: boolean; keep?: number; mode?: SnapshotMode } = {},
  ): Promise<CommitResult> {
    const keep = options.keep ?? retention();
    const mode = options.mode ?? "disk";
    if (!this.names.includes(agent.backend)) {
      throw new BadInputError(
        `bottle "${agent.slug}" runs on backend "${agent.backend}", not "${this.backend}"`,
      );
    }
    if (options.pause === false && !this.commitsWithoutPause) {
      throw new BadInputError(
        `--no-pause works only on docker, and bottle "${agent.slug}" runs on ${this.backend}; ` +
          `commit it without --no-pause`,
      );
    }
    const modes = (this.constructor as FreezerClass).modes;
    if (!modes.includes(mode)) {
      throw new BadInputError(
        `--mode ${mode} is not offered for bottle "${agent.slug}" on ${this.backend} (it offers ` +
          `${modes.join(", ")}); commit it with --mode disk`,
      );
    }
    // Only what the commit needs of a long history: the newest record, the parent, the ids of
    // this second (see BottleState.readRecentHistory).
    const history = await agent.state.readRecentHistory(this.backend);
    if (!history.appendable) {
      const legacy = history.whole().snapshots.find((record) => record.id === "legacy");
      if (legacy) legacy.artifact = await this.adoptLegacy(agent, legacy.artifact);
    }
    const now = new Date();
    const id = newSnapshotId(now, history.idsOfSecond(snapshotIdBase(now)));
    const record = (artifact: string, sizeBytes: number | null): SnapshotRecord => ({
      id,
      createdAt: new Date().toISOString(),
      backend: this.backend,
      artifact,
      sizeBytes,
      parent: history.resumedFrom,
      toolVersion: VERSION,
      message: options.message ?? null,
      mode,
    });
    await agent.state.checkHistoryRoom(record("", null));
    const undo = new AsyncDisposableStack();
    let current: string;
    let warnings: string[];
    let recorded: SnapshotRecord;
    try {
      const previous = history.newest?.artifact;
      const frozen = await this.freeze(agent, {
        id,
        mode,
        ...previous === undefined ? {} : { previous },
        // Read whole only for a backend that looks through them.
        get earlier() {
          return history.whole().snapshots.map((record) => record.artifact);
        },
        undo,
        ...options.pause === false ? { pause: false } : {},
      });
      const { artifact, current: named = artifact, runConfig, sizeBytes }: Frozen =
        typeof frozen === "string" ? { artifact: frozen } : frozen;
      current = named;
      warnings = typeof frozen === "string" ? [] : frozen.warnings ?? [];
      recorded = record(artifact, sizeBytes ?? null);
      try {
        await agent.state.recordCommit({
          history: history.adding(recorded),
          ...runConfig === undefined ? {} : { runConfig },
          committedImage: current,
        });
      } catch (error) {
        if (error instanceof TypeError) throw error;
        throw new BotBottleError(
          `recording the snapshot in ${agent.state.dir} failed (${(error as Error).message}); ` +
            `the snapshot was removed again and the bottle's state is as it was: ` +
            `make room or make the directory writable, then commit again`,
          { cause: error },
        );
      }
    } catch (error) {
      await this.bottles.unwind(undo);
      throw error;
    }
    const result: CommitResult = {
      slug: agent.slug,
      backend: this.backend,
      snapshotId: id,
      mode,
      artifact: current,
      resumeCommand: this.resumeCommand(agent),
      exportCommand: `bot-bottle export ${agent.slug}`,
      backendExportCommand: this.exportCommand(agent, current),
      pruned: [],
      warnings,
    };
    this.log(
      `committed bottle "${agent.slug}" to ${current} (snapshot ${id}` +
        (mode === "full" ? ", full: memory and disk; the bottle kept running)" : ")"),
    );
    for (const warning of warnings) this.log(`warning: ${warning}`);
    this.log(`to resume from this snapshot: ${result.resumeCommand}`);
    this.log(`to move it to another machine: ${result.exportCommand}`);
    if (keep > 0) result.pruned = await this.#retain(agent, keep, history.wholeAfter(recorded));
    return result;
  }

  /**
   * Automatic retention, once the commit succeeded: prunes the snapshots
   * beyond the newest `keep`. Its failure does not undo the commit: it is
   * logged as a warning.
   *
   * @param history The history as the commit wrote it (not read again).
   * @returns The ids of the snapshots removed.
   */
  async #retain(agent: Agent, keep: number, history: History): Promise<string[]> {
    try {
      const pruned = await pruneHeld({ agent, backend: this.bottles }, { keep }, false, history);
      const ids = pruned.removed.map((record) => record.id);
      if (ids.length > 0) {
        this.log(
          `removed ${ids.length} old snapshot(s) beyond the newest ${keep} ` +
            `(${ids.join(", ")}); BOT_BOTTLE_KEEP_SNAPSHOTS sets how many are kept`,
        );
      }
      return ids;
    } catch (error) {
      if (!(error instanceof BotBottleError)) throw error;
      this.log(
        error instanceof Interrupted
          ? `warning: pruning old snapshots was interrupted (${error.signal}); the commit itself ` +
            `is recorded, and "bot-bottle prune ${agent.slug}" finishes the pruning`
          : `warning: old snapshots were not pruned: ${error.message}`,
      );
      return [];
    }
  }

  /**
   * Builds the agent from the slug's `metadata.json` and commits it.
   *
   * @param slug The bottle's slug.
   * @param root The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`).
   * @returns What was committed.
   * @throws {BadInputError} When the slug is invalid or its state is missing or corrupt.
   */
  async commitSlug(slug: string, root?: string): Promise<CommitResult> {
    return await this.commit(await loadAgent(slug, root));
  }
}
