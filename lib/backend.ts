/**
 * The backend: what runs bottles on one engine (Docker, Apple `container`,
 * smolvm). It starts, resumes, stops and removes bottles, tells their state,
 * keeps and removes their snapshots, and saves and loads snapshot artifacts.
 * The freezer ({@linkcode Freezer}) and every other operation use it.
 *
 * @module
 */

import type { Agent } from "./state/agent.ts";
import type { ArtifactImages } from "./archive/artifact_names.ts";
import type { BackendOptions, BackendSpec } from "./command_runner.ts";
import type { RunConfig } from "./state/run_config.ts";
import { BadInputError } from "./errors.ts";
import { OciTransport } from "./oci_transport.ts";
import type {
  BackendProbe,
  BottleStatus,
  ImportContext,
  InventoryEntry,
  PlatformContext,
  StartSpec,
  StopReason,
} from "./backend_types.ts";

export type { BackendOptions, BackendSpec, StopSpec } from "./command_runner.ts";
export type {
  BackendProbe,
  BottleStatus,
  ImportContext,
  InventoryEntry,
  PlatformContext,
  PullContext,
  StartSpec,
  StopReason,
} from "./backend_types.ts";

/** A backend class, as a freezer names it ({@linkcode FreezerClass.Backend}). */
export interface BackendClass {
  /** Builds the backend from its registry entry. */
  new (spec: BackendSpec, options?: BackendOptions): Backend;
  /** The command templates the class and its freezer run; the registry must declare each. */
  readonly requiredCommands: readonly string[];
  /** Whether its registry entry must declare the engine's wording (`engine`). */
  readonly needsEngine: boolean;
}

/**
 * The base class of every backend: running bottles and keeping their
 * snapshots, over the plumbing its commands share ({@linkcode CommandRunner}).
 * Image backends share {@linkcode ImageBackend} (in `backends/image.ts`).
 */
export abstract class Backend extends OciTransport {
  /** The command templates this class and its freezer run. Subclasses list theirs. */
  static readonly requiredCommands: readonly string[] = [];
  /** Whether its registry entry must declare the engine's wording; a module serving several engines does. */
  static readonly needsEngine: boolean = false;
  /**
   * Lists the slugs of this backend's running bottles.
   *
   * @returns The slugs, from bottle names of the form `bot-bottle-<slug>`.
   * @throws {BackendError} When the backend cannot be asked.
   */
  abstract runningSlugs(): Promise<string[]>;

  /**
   * Creates and starts the bottle `bot-bottle-<slug>` from an image.
   *
   * @param slug The new bottle's slug.
   * @param spec The image, environment, volumes and command.
   * @throws {BackendError} When the backend failed.
   */
  abstract startBottle(slug: string, spec: StartSpec): Promise<void>;

  /**
   * Checks, before anything runs, that the backend can start a bottle with
   * this spec (every value against its placeholder's kind).
   *
   * @param slug The new bottle's slug.
   * @param spec The image, environment, volumes and command.
   * @throws {BadInputError} When a value is not acceptable.
   */
  abstract checkStart(slug: string, spec: StartSpec): void;

  /**
   * Checks, before `resume` changes anything (before it removes a stopped
   * or replaced bottle), that this backend can resume the bottle: a backend
   * too old, a name the backend cannot take, a snapshot it cannot boot.
   * The default accepts.
   *
   * @param agent The bottle.
   * @param artifact The snapshot it would boot from.
   * @throws {BadInputError} When the bottle's values are not acceptable.
   * @throws {BackendError} When the backend cannot resume it.
   */
  checkResume(_agent: Agent, _artifact: string): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Asks the engine whether it can run here: its CLI is found, its service
   * answers, and which version it is. The default runs the `version`
   * template (when the registry declares one) and reads a version from its
   * output; backends whose features depend on the version override it.
   *
   * @returns The version and its features.
   * @throws {BackendError} When the CLI is missing or the engine does not answer.
   */
  async probe(): Promise<BackendProbe> {
    if (!this.commands.has("version")) return { features: [] };
    const { stdout } = await this.run("version", {});
    const { semver } = await import("./_internal/semver.ts");
    const version = (await semver()).coerce(stdout)?.version;
    return { ...version === undefined ? {} : { version }, features: [] };
  }

  /**
   * Boots the bottle `bot-bottle-<slug>` from a snapshot, as it ran.
   *
   * @param agent The bottle.
   * @param artifact The snapshot, as `committed-image` names it.
   * @param config How it ran, when a commit recorded it.
   */
  abstract resumeBottle(agent: Agent, artifact: string, config?: RunConfig): Promise<void>;

  /**
   * Tells what state the bottle `bot-bottle-<slug>` is in.
   *
   * @param slug The bottle's slug.
   * @returns `running`, `stopped` (also created, exited, paused…) or `absent`.
   */
  abstract bottleStatus(slug: string): Promise<BottleStatus>;

  /**
   * Tells why the bottle `bot-bottle-<slug>` is not running: its exit status
   * and the last lines of its output, through the registry's optional
   * `exitStatus` and `logs` templates. A backend whose entry lacks them (or
   * whose engine cannot tell) reports what it could not learn as `undefined`.
   *
   * @param slug The bottle's slug.
   * @returns The exit status and the output's last lines, where known.
   */
  async stopReason(slug: string): Promise<StopReason> {
    const values = { container: this.bottleName(slug), slug };
    const ask = async (name: string) => {
      if (!this.commands.has(name)) return undefined;
      try {
        return await this.run(name, values);
      } catch {
        return undefined;
      }
    };
    const [status, logs] = await Promise.all([ask("exitStatus"), ask("logs")]);
    const exitCode = status === undefined ? NaN : Number(status.stdout.trim());
    return {
      ...Number.isInteger(exitCode) ? { exitCode } : {},
      ...logs === undefined ? {} : { output: `${logs.stdout}${logs.stderr}`.trimEnd() },
    };
  }

  /**
   * Stops and removes the bottle `bot-bottle-<slug>`; nothing happens when it is absent.
   *
   * @param slug The bottle's slug.
   */
  abstract removeBottle(slug: string): Promise<void>;

  /**
   * Tells whether a snapshot still exists in the backend.
   *
   * @param artifact The snapshot, as `committed-image` names it.
   */
  abstract snapshotExists(artifact: string): Promise<boolean>;

  /**
   * Why `artifact` is not bottle `slug`'s own snapshot, whatever a state file
   * says, or `undefined` when it is (see `ownership.ts`).
   *
   * @param slug The bottle's slug.
   * @param stateDir Its state directory (for backends that keep snapshots there).
   * @param artifact The snapshot, as a state file names it.
   * @returns The problem, for a warning.
   */
  abstract ownershipProblem(
    slug: string,
    stateDir: string,
    artifact: string,
  ): Promise<string | undefined>;

  /**
   * Removes a snapshot when it is the bottle's own (see
   * {@linkcode Backend.ownershipProblem}); anything else is left alone with
   * a warning naming it. Every removal of a snapshot goes through here.
   *
   * @param agent The bottle.
   * @param artifact The snapshot, as a state file names it.
   * @returns Whether it was the bottle's (and so was removed).
   */
  async removeOwnSnapshot(agent: Agent, artifact: string): Promise<boolean> {
    if (!(await this.owns(agent.slug, agent.state.dir, artifact))) return false;
    await this.removeSnapshot(agent, artifact);
    return true;
  }

  /** Whether `artifact` is the bottle's own; warns, naming it, when it is not. */
  protected async owns(slug: string, stateDir: string, artifact: string): Promise<boolean> {
    const problem = await this.ownershipProblem(slug, stateDir, artifact);
    if (problem === undefined) return true;
    this.log(
      `warning: left ${artifact} alone: a state file of bottle "${slug}" names it, but ` +
        `${problem}, so it is not the bottle's own; remove it by hand if it is not needed`,
    );
    return false;
  }

  /**
   * Lists the bottle's snapshots that the backend holds but the history does
   * not record: what a commit or an import left behind when it could not
   * clean up after itself (the engine had died).
   *
   * @param agent The bottle.
   * @param recorded The artifacts the history records.
   * @returns Their artifacts.
   */
  abstract orphanSnapshots(agent: Agent, recorded: readonly string[]): Promise<string[]>;

  /**
   * Points what `committed-image` names back at the newest snapshot, when a
   * commit or import that could not clean up (the engine had died) left it
   * on another. The default finds nothing to do.
   *
   * @param agent The bottle.
   * @param current What `committed-image` names.
   * @param newest The newest recorded snapshot's artifact.
   * @param check Only tell whether it points elsewhere.
   * @returns Whether it pointed elsewhere.
   */
  repointCurrent(
    _agent: Agent,
    _current: string,
    _newest: string,
    _check = false,
  ): Promise<boolean> {
    return Promise.resolve(false);
  }

  /**
   * Removes a snapshot from the backend; nothing happens when it is gone.
   *
   * @param agent The bottle it belongs to.
   * @param artifact The snapshot, as `committed-image` names it.
   */
  abstract removeSnapshot(agent: Agent, artifact: string): Promise<void>;

  /**
   * Tells, with a fixed number of backend queries however many bottles
   * there are, the state of each bottle and the size of each snapshot.
   *
   * @param bottles The slugs, each with its snapshot when it has one.
   * @returns What the backend knows, by slug.
   */
  abstract inventory(
    bottles: readonly { slug: string; artifact?: string }[],
  ): Promise<Map<string, InventoryEntry>>;

  /**
   * Runs a command in the running bottle `bot-bottle-<slug>` through the
   * registry's `exec` template, attached to this process's standard input,
   * output and error, with no timeout.
   *
   * @param slug The bottle's slug.
   * @param command The command and its arguments (empty: a login shell, `sh -l`).
   * @param tty Give it a terminal (on a terminal, like `docker exec -it`).
   * @returns The command's exit status.
   * @throws {BadInputError} When the registry's backend declares no `exec` command.
   */
  async execIn(slug: string, command: readonly string[], tty: boolean): Promise<number> {
    if (!this.commands.has("exec")) {
      throw new BadInputError(
        `the registry's "${this.name}" backend has no "exec" command; add one to the registry ` +
          `(see docs/registry.md)`,
      );
    }
    return await this.commands.runAttached("exec", {
      container: this.bottleName(slug),
      flags: tty ? ["--interactive", "--tty"] : ["--interactive"],
      args: command.length > 0 ? command : ["sh", "-l"],
    });
  }

  /** A command that opens a shell in the running bottle, for hints. */
  abstract shellCommand(slug: string): string;

  /**
   * Writes a snapshot's artifact as one file, to carry to another machine.
   *
   * @param agent The bottle.
   * @param artifact The snapshot's artifact.
   * @param dir A private directory to write into.
   * @returns The file, and the name it has in an export archive.
   */
  abstract exportArtifact(
    agent: Agent,
    artifact: string,
    dir: string,
  ): Promise<{ path: string; name: string }>;

  /**
   * Loads an exported artifact into the backend as snapshot `context.id` of
   * bottle `slug`, and makes it the newest. Like a freeze, it registers the
   * undoing of each change in `context.undo`.
   *
   * @param slug The bottle it now belongs to.
   * @param from The bottle it was exported from (its artifact carries that name).
   * @param file The exported artifact.
   * @param stateDir The bottle's state directory (for backends that keep artifacts there).
   * @param context The snapshot's id, the bottle's newest snapshot before it, the undo steps,
   * and what the artifact names.
   * @returns The snapshot's own artifact, and what `committed-image` names.
   * @throws {BadInputError} When the artifact may not be imported; nothing was loaded.
   */
  abstract importArtifact(
    slug: string,
    from: string,
    file: string,
    stateDir: string,
    context: ImportContext,
  ): Promise<{ artifact: string; current: string }>;

  /**
   * Checks, as soon as an exported file's manifest is read (before its
   * artifact is), that a snapshot made on the exporting machine can run
   * here. The default accepts every platform (images carry their own).
   *
   * @param context The file, the snapshot's mode, its artifact's name in
   * the file, and the exporting machine (`Deno.build.os` and `.arch`), when
   * the file says.
   * @throws {BadInputError} When it cannot; nothing was changed.
   */
  checkPlatform(_context: PlatformContext): void {}

  /**
   * Checks, before anything is loaded or written, that an exported artifact
   * may be imported.
   *
   * @param source The `.bottle` file, for messages.
   * @param from The bottle it was exported from.
   * @param snapshotId The snapshot's id in the file.
   * @param images What the artifact's own manifests name.
   * @throws {BadInputError} When it may not be imported; nothing was changed.
   */
  abstract checkImport(
    context: { source: string; from: string; snapshotId: string; images?: ArtifactImages },
  ): Promise<void>;

  /**
   * Adds the undo step of a snapshot made (or, after an interrupt, maybe
   * made): removing it. Should that fail, `prune` removes it later.
   *
   * @param undo The freeze's undo steps.
   * @param agent The bottle.
   * @param artifact The snapshot.
   */
  undoSnapshot(undo: AsyncDisposableStack, agent: Agent, artifact: string): void {
    this.deferUndo(
      undo,
      `the half-made snapshot ${artifact}`,
      `"bot-bottle prune ${agent.slug}" removes it once the engine answers again`,
      () => this.removeOwnSnapshot(agent, artifact),
    );
  }
}
