/**
 * The freezer: the flow every backend shares to snapshot a bottle and record
 * the snapshot where the launcher finds it.
 *
 * @module
 */

import { type Agent, loadAgent } from "./agent.ts";
import { type ArtifactImages, artifactNameProblem } from "./artifact_names.ts";
import { imageOwnershipProblem } from "./ownership.ts";
import type { BackendCommands, CommandResult } from "./backend_commands.ts";
import { BackendError, BadInputError, BotBottleError, CommitCancelled } from "./errors.ts";
import { type Prompter, terminalPrompter } from "./prompter.ts";
import { join } from "node:path";
import { emptyRunConfig, type RunConfig, runValues } from "./run_config.ts";
import { newSnapshotId, type SnapshotRecord } from "./snapshot_history.ts";
import type { TemplateValues } from "./template.ts";
import { VERSION } from "./version.ts";

/** What a successful commit produced. */
export interface CommitResult {
  /** The bottle's slug. */
  slug: string;
  /** The backend's registry name (aliases resolved), e.g. `"docker"`. */
  backend: string;
  /** The new snapshot's id in the bottle's history, e.g. `20261124T141500Z`. */
  snapshotId: string;
  /** The artifact reference written to `committed-image`. */
  artifact: string;
  /** The command that resumes the bottle from this snapshot. */
  resumeCommand: string;
  /** A command that copies the artifact out, to move it to another machine. */
  exportCommand: string;
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
  /** The artifact of the newest snapshot before this one, if there is one. */
  previous?: string;
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

/** What {@linkcode Freezer.importArtifact} is given besides the artifact. */
export interface ImportContext extends FreezeContext {
  /** The `.bottle` file, for messages. */
  source: string;
  /** The snapshot's id in the file (`id` may differ, when the bottle here already has it). */
  snapshotId: string;
  /** What the artifact's own manifests name (image backends refuse any other name). */
  images?: ArtifactImages;
}

/** A bottle's state as bot-bottle reports it. */
export type BottleStatus = "running" | "stopped" | "absent";

/** What a backend knows about one bottle, from {@linkcode Freezer.inventory}. */
export interface InventoryEntry {
  /** The bottle's state. */
  state: BottleStatus;
  /** Whether its snapshot exists in the backend (`false` when it has none). */
  snapshotExists: boolean;
  /** The snapshot's size in bytes, when the backend tells. */
  snapshotBytes?: number;
}

/** What a new bottle runs. */
export interface StartSpec {
  /** The image (an image reference; for smolvm, what `machine create --image` takes). */
  image: string;
  /** Environment variables, `NAME=value`. */
  env: string[];
  /** Bind mounts, `HOST:GUEST[:ro]`. */
  volumes: string[];
  /** The command and its arguments (empty: the image's default). */
  command: string[];
}

/** Options every freezer takes. */
export interface FreezerOptions {
  /** Receives progress and hint lines meant for the user (default: dropped). */
  log?: (line: string) => void;
  /** Asks confirmations (default: none can be asked, so a needed confirmation is an error). */
  prompter?: Prompter;
  /**
   * Start a bottle again after it was stopped for its snapshot (default
   * `true`; the CLI's `--no-restart` sets `false`).
   */
  restart?: boolean;
}

/** How a backend stops and starts its bottle, for {@linkcode Freezer.whileStopped}. */
export interface StopSpec {
  /** Whether the bottle is running now (if not, nothing is stopped or asked). */
  running: boolean;
  /** What stopping costs beyond ending the agent's session, one clause each. */
  consequences?: string[];
  /** Stops it. */
  stop(): Promise<unknown>;
  /** Starts it again; runs even after an interrupt. */
  start(): Promise<unknown>;
  /** The command a user runs to start it by hand, for messages. */
  startCommand: string;
}

/** The registry entry a freezer is built from. */
export interface FreezerSpec {
  /** The backend's registry name. */
  backend: string;
  /** Every `backend` metadata value that means this backend (its name and its aliases). */
  names: readonly string[];
  /** The backend's command templates. */
  commands: BackendCommands;
}

/** A freezer class, as a backend module exports it by default. */
export interface FreezerClass {
  /** Builds the freezer from its registry entry. */
  new (spec: FreezerSpec, options?: FreezerOptions): Freezer;
  /** The command templates the class runs; the registry must declare each. */
  readonly requiredCommands: readonly string[];
}

/**
 * The base class of every backend's freezer. {@linkcode Freezer.commit} owns
 * the flow: the backend's {@linkcode Freezer.freeze} makes the snapshot, then
 * `committed-image` is written, then the bottle is marked preserved, then the
 * resume and export hints are logged. Nothing is recorded unless the snapshot
 * succeeded.
 */
export abstract class Freezer {
  /** The command templates this class runs. Subclasses list theirs. */
  static readonly requiredCommands: readonly string[] = [];

  /** Whether {@linkcode FreezeContext.pause} `false` is honoured (Docker's `--pause=false`). */
  readonly commitsWithoutPause: boolean = false;

  /** The backend's registry name. */
  readonly backend: string;
  /** Every `backend` metadata value this freezer serves. */
  readonly names: readonly string[];
  /** The backend's command templates. */
  protected readonly commands: BackendCommands;
  /** Where user-facing lines go. */
  protected readonly log: (line: string) => void;
  /** Asks the user; throws when a backend needs a confirmation and none can be asked. */
  protected readonly prompter: Prompter;
  /** Whether to start a bottle again after stopping it for a snapshot. */
  protected readonly restart: boolean;
  /** Set while undo steps run: their commands run even after an interrupt. */
  #unwinding = false;

  /**
   * Builds the freezer from its registry entry; {@linkcode Registry.getFreezer} calls this.
   *
   * @param spec The backend's registry entry: name, aliases and command templates.
   * @param options Where user-facing lines go, and how to ask the user.
   */
  constructor(spec: FreezerSpec, options: FreezerOptions = {}) {
    this.backend = spec.backend;
    this.names = spec.names;
    this.commands = spec.commands;
    this.log = options.log ?? (() => {});
    this.prompter = options.prompter ?? terminalPrompter({ interactive: false });
    this.restart = options.restart ?? true;
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
   * A command that copies the artifact out of the backend into a file.
   *
   * @param agent The bottle.
   * @param artifact The artifact reference.
   */
  abstract exportCommand(agent: Agent, artifact: string): string;

  /**
   * Lists the slugs of this backend's running bottles.
   *
   * @returns The slugs, from bottle names of the form `bot-bottle-<slug>`.
   * @throws {BackendError} When the backend cannot be asked.
   */
  abstract runningSlugs(): Promise<string[]>;

  /**
   * Creates and starts the bottle `bot-bottle-<slug>` from an image. The
   * default runs the backend's `run` template (docker, Apple container).
   *
   * @param slug The new bottle's slug.
   * @param spec The image, environment, volumes and command.
   * @throws {BackendError} When the backend failed.
   */
  async startBottle(slug: string, spec: StartSpec): Promise<void> {
    const config = { ...emptyRunConfig(), env: spec.env, volumes: spec.volumes };
    await this.runImage(slug, spec.image, config, spec.command);
  }

  /**
   * Checks, before anything runs, that the backend can start a bottle with
   * this spec: the default renders the `run` template, so every value is
   * checked against its placeholder's kind.
   *
   * @param slug The new bottle's slug.
   * @param spec The image, environment, volumes and command.
   * @throws {BadInputError} When a value is not acceptable.
   */
  checkStart(slug: string, spec: StartSpec): void {
    const config = { ...emptyRunConfig(), env: spec.env, volumes: spec.volumes };
    this.commands.render("run", this.#runImageValues(slug, spec.image, config, spec.command));
  }

  /**
   * Checks, before `resume` changes anything (before it removes a stopped
   * or replaced bottle), that this backend can resume the bottle: a backend
   * too old, a name the backend cannot take. The default accepts.
   *
   * @param agent The bottle.
   * @throws {BadInputError} When the bottle's values are not acceptable.
   * @throws {BackendError} When the backend cannot resume it.
   */
  checkResume(_agent: Agent): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Boots the bottle `bot-bottle-<slug>` from a snapshot, as it ran. The
   * default runs the backend's `run` template with the image's own command.
   *
   * @param agent The bottle.
   * @param artifact The snapshot, as `committed-image` names it.
   * @param config How it ran, when a commit recorded it.
   */
  async resumeBottle(agent: Agent, artifact: string, config?: RunConfig): Promise<void> {
    await this.runImage(agent.slug, artifact, config ?? emptyRunConfig(), [], agent);
  }

  /**
   * Runs the backend's `run` template: `{container}`, `{slug}`, `{image}`,
   * the run configuration's lists, and `{args...}`.
   *
   * @param slug The bottle's slug.
   * @param image The image or snapshot to run.
   * @param config How to run it.
   * @param args The command and its arguments (empty: the image's own).
   * @param agent The bottle, for messages.
   */
  protected async runImage(
    slug: string,
    image: string,
    config: RunConfig,
    args: string[],
    agent?: Agent,
  ): Promise<void> {
    await this.run("run", this.#runImageValues(slug, image, config, args), agent);
  }

  #runImageValues(slug: string, image: string, config: RunConfig, args: string[]): TemplateValues {
    return { container: this.bottleName(slug), slug, image, ...runValues(config), args };
  }

  /**
   * Tells what state the bottle `bot-bottle-<slug>` is in.
   *
   * @param slug The bottle's slug.
   * @returns `running`, `stopped` (also created, exited, paused…) or `absent`.
   */
  abstract bottleStatus(slug: string): Promise<BottleStatus>;

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
   * says, or `undefined` when it is. The default, for image backends: it must
   * be named `bot-bottle-committed-<slug>:<tag>` (see `ownership.ts`).
   *
   * @param slug The bottle's slug.
   * @param _stateDir Its state directory (for backends that keep snapshots there).
   * @param artifact The snapshot, as a state file names it.
   * @returns The problem, for a warning.
   */
  ownershipProblem(slug: string, _stateDir: string, artifact: string): Promise<string | undefined> {
    return Promise.resolve(imageOwnershipProblem(slug, artifact));
  }

  /**
   * Removes a snapshot when it is the bottle's own (see
   * {@linkcode Freezer.ownershipProblem}); anything else is left alone with
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
   * clean up after itself (the engine had died). The default, for image
   * backends, finds the tags of the bottle's repository, other than `:latest`
   * and `:legacy`, among {@linkcode Freezer.imageReferences}.
   *
   * @param agent The bottle.
   * @param recorded The artifacts the history records.
   * @returns Their artifacts.
   */
  async orphanSnapshots(agent: Agent, recorded: readonly string[]): Promise<string[]> {
    const repository = this.imageRepository(agent.slug);
    const keep = new Set([...recorded, this.imageName(agent.slug), `${repository}:legacy`]);
    return (await this.imageReferences(agent)).filter((image) =>
      image.startsWith(`${repository}:`) && !keep.has(image)
    );
  }

  /**
   * Lists the backend's images, `repository:tag`, for
   * {@linkcode Freezer.orphanSnapshots}. The default lists none.
   *
   * @param agent The bottle asked about, for messages.
   */
  protected imageReferences(_agent: Agent): Promise<string[]> {
    return Promise.resolve([]);
  }

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

  /** A command that opens a shell in the running bottle, for hints. */
  abstract shellCommand(slug: string): string;

  /**
   * Writes a snapshot's artifact as one file, to carry to another machine.
   * The default, for image backends, runs the `imageSave` template
   * (`docker save`, `container image save`); smolvm hands over the
   * `.smolmachine` itself.
   *
   * @param agent The bottle.
   * @param artifact The snapshot's artifact.
   * @param dir A private directory to write into.
   * @returns The file, and the name it has in an export archive.
   */
  async exportArtifact(
    agent: Agent,
    artifact: string,
    dir: string,
  ): Promise<{ path: string; name: string }> {
    const name = `artifact.${this.backend}.tar`;
    const path = join(dir, name);
    await this.run("imageSave", { path, image: artifact }, agent);
    return { path, name };
  }

  /**
   * Loads an exported artifact into the backend as snapshot `context.id` of
   * bottle `slug`, and makes it the newest. The default, for image backends,
   * first checks what the artifact's own manifests name: one image, named
   * only `bot-bottle-committed-<from>:<snapshot id>`, and that name not
   * already on another image here (so a load moves no name that is not the
   * bottle's); then runs `imageLoad`, then `tag` to the bottle's names. Like
   * a freeze, it registers the undoing of each change in `context.undo`.
   *
   * @param slug The bottle it now belongs to.
   * @param from The bottle it was exported from (its artifact carries that name).
   * @param file The exported artifact.
   * @param stateDir The bottle's state directory (for backends that keep artifacts there).
   * @param context The snapshot's id, the bottle's newest snapshot before it, the undo steps,
   * and what the artifact names.
   * @returns The snapshot's own artifact, and what `committed-image` names.
   * @throws {BadInputError} When the artifact names another image, or more
   * than one, or its name is on another image here; nothing was loaded.
   */
  async importArtifact(
    slug: string,
    from: string,
    file: string,
    _stateDir: string,
    { id, previous, undo, source, snapshotId, images }: ImportContext,
  ): Promise<{ artifact: string; current: string }> {
    const loaded = `${this.imageRepository(from)}:${snapshotId}`;
    const artifact = `${this.imageRepository(slug)}:${id}`;
    const current = this.imageName(slug);
    await this.checkImport({ source, from, snapshotId, images });
    // A name the load brings that this machine did not have is only a carrier.
    const carrier = !(await this.snapshotExists(loaded));
    const existed = loaded === artifact ? !carrier : await this.snapshotExists(artifact);
    if (existed && loaded !== artifact) {
      throw new BadInputError(
        `${source} was not imported: the name ${artifact} is already on an image that the ` +
          `history of bottle "${slug}" does not record (a leftover); run "bot-bottle prune ` +
          `${slug}" and import again; nothing was loaded`,
      );
    }
    // Only names this import brings are removed again; a name that was here stays.
    const created = [carrier ? loaded : undefined, existed ? undefined : artifact]
      .filter((name, n, all): name is string => name !== undefined && all.indexOf(name) === n);
    this.deferUndo(
      undo,
      `the half-imported snapshot ${created.join(", ")}`,
      `remove it with the backend's image removal command`,
      async () => {
        for (const name of created) {
          if (!(await this.snapshotExists(name))) continue;
          if (!(await this.owns(name === loaded ? from : slug, _stateDir, name))) continue;
          await this.run("imageDelete", { image: name });
        }
      },
    );
    await this.run("imageLoad", { path: file });
    if (loaded !== artifact) {
      await this.run("tag", { image: loaded, target: artifact });
      if (carrier) await this.run("imageDelete", { image: loaded });
    }
    this.undoMove(undo, current, previous);
    await this.run("tag", { image: artifact, target: current });
    return { artifact, current };
  }

  /**
   * Checks, before anything is loaded or written, that an exported artifact
   * may be imported. The default, for image backends: the artifact's own
   * manifests name one image, only `bot-bottle-committed-<from>:<snapshot
   * id>`, and that name is not already on another image here (so a load
   * moves no name that is not the bottle's).
   *
   * @param source The `.bottle` file, for messages.
   * @param from The bottle it was exported from.
   * @param snapshotId The snapshot's id in the file.
   * @param images What the artifact's own manifests name.
   * @throws {BadInputError} When it may not be imported; nothing was changed.
   */
  async checkImport(
    { source, from, snapshotId, images }: {
      source: string;
      from: string;
      snapshotId: string;
      images?: ArtifactImages;
    },
  ): Promise<void> {
    const loaded = `${this.imageRepository(from)}:${snapshotId}`;
    const problem = images
      ? artifactNameProblem(images, loaded)
      : "its artifact's manifests were not read";
    if (problem) {
      throw new BadInputError(
        `${source} is refused: ${problem}; nothing was loaded: ask for a file that ` +
          `"bot-bottle export" wrote`,
      );
    }
    if ((await this.snapshotExists(loaded)) && !(await this.holdsImage(loaded, images!))) {
      throw new BadInputError(
        `${source} is refused: its snapshot is named "${loaded}", which here names another ` +
          `image, and loading would move that name; remove or rename that image first, or ` +
          `import on a machine without it; nothing was loaded`,
      );
    }
  }

  /**
   * Tells whether the image named `name` here is the very image an artifact
   * holds, so that loading it moves nothing. The default cannot tell: no.
   *
   * @param name An image name that exists here.
   * @param images What the artifact's manifests say.
   */
  protected holdsImage(_name: string, _images: ArtifactImages): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** The image repository of a bottle's snapshots: `bot-bottle-committed-<slug>`. */
  imageRepository(slug: string): string {
    return `bot-bottle-committed-${slug}`;
  }

  /** The newest snapshot's image: `bot-bottle-committed-<slug>:latest`. */
  imageName(slug: string): string {
    return `${this.imageRepository(slug)}:latest`;
  }

  /**
   * Explains a failed command in the user's terms, e.g. a missing container
   * or an engine that is not running. The default keeps the error as it is.
   *
   * @param error The failure.
   * @param agent The bottle the command was about, if any.
   * @returns The error to throw instead.
   */
  protected explainFailure(error: BackendError, _agent?: Agent): BackendError {
    return error;
  }

  /**
   * Runs `snapshot` with the bottle stopped, for backends that cannot
   * snapshot a running bottle. A running bottle is stopped only after the
   * user agreed to a prompt naming the consequences; afterwards it is started
   * again (unless `restart` is off, or it was interrupted), and the log says
   * which state it was left in.
   *
   * @param agent The bottle.
   * @param spec Whether it runs, and how to stop and start it.
   * @param snapshot The work to do while it is stopped.
   * @returns What `snapshot` returned.
   * @throws {CommitCancelled} When the user declined; nothing was stopped.
   */
  protected async whileStopped<T>(
    agent: Agent,
    spec: StopSpec,
    snapshot: () => Promise<T>,
  ): Promise<T> {
    if (!spec.running) return await snapshot();
    const consequences = ["stopping it ends the agent's session", ...spec.consequences ?? []];
    const question = `bottle "${agent.slug}" is running and must be stopped to snapshot it ` +
      `(${consequences.join("; ")}); stop it now?`;
    if (!(await this.prompter.confirm(question))) {
      throw new CommitCancelled(
        `commit cancelled; bottle "${agent.slug}" is still running and nothing was changed`,
      );
    }
    await spec.stop();
    this.log(`stopped bottle "${agent.slug}" for its snapshot`);
    try {
      return await snapshot();
    } finally {
      await this.#startAgain(agent, spec);
    }
  }

  async #startAgain(agent: Agent, spec: StopSpec): Promise<void> {
    if (!this.restart) {
      this.log(`bottle "${agent.slug}" was left stopped; start it with: ${spec.startCommand}`);
      return;
    }
    try {
      await spec.start();
      this.log(`started bottle "${agent.slug}" again`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.log(
        `warning: bottle "${agent.slug}" was left stopped: starting it again failed (${reason}); ` +
          `start it with: ${spec.startCommand}`,
      );
    }
  }

  /**
   * Adds an undo step to a freeze's {@linkcode FreezeContext.undo}: when it
   * runs and fails, a warning says what was left behind and how to remove it.
   *
   * @param undo The freeze's undo steps.
   * @param leftBehind What stays if the step fails, e.g. `the image x:1`.
   * @param fix The command or action that removes it by hand.
   * @param step The step.
   */
  protected deferUndo(
    undo: AsyncDisposableStack,
    leftBehind: string,
    fix: string,
    step: () => Promise<unknown>,
  ): void {
    undo.defer(async () => {
      try {
        await step();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.log(`warning: could not undo ${leftBehind} (${reason}); ${fix}`);
      }
    });
  }

  /**
   * Adds the undo step of a snapshot made (or, after an interrupt, maybe
   * made): removing it. Should that fail, `prune` removes it later.
   *
   * @param undo The freeze's undo steps.
   * @param agent The bottle.
   * @param artifact The snapshot.
   */
  protected undoSnapshot(undo: AsyncDisposableStack, agent: Agent, artifact: string): void {
    this.deferUndo(
      undo,
      `the half-made snapshot ${artifact}`,
      `"bot-bottle prune ${agent.slug}" removes it once the engine answers again`,
      () => this.removeOwnSnapshot(agent, artifact),
    );
  }

  /**
   * Adds the undo step of moving an image name (`:latest`) to a new
   * snapshot, for image backends: tagging the previous snapshot with it
   * again, or, without one, removing the name.
   *
   * @param undo The undo steps.
   * @param current The name that moved.
   * @param previous The snapshot it named before, if any.
   */
  protected undoMove(undo: AsyncDisposableStack, current: string, previous?: string): void {
    this.deferUndo(
      undo,
      `the move of ${current} to the new snapshot`,
      previous
        ? `point it back with: ${this.commands.label("tag")} ${previous} ${current}`
        : `remove it with: ${this.commands.label("imageDelete")} ${current}`,
      async () => {
        if (previous) await this.run("tag", { image: previous, target: current });
        else if (await this.snapshotExists(current)) {
          await this.run("imageDelete", { image: current });
        }
      },
    );
  }

  /**
   * Runs clean-up work after a failure or an interrupt: the backend commands
   * it runs are not stopped by the interrupt (they still have their timeout).
   *
   * @param work The clean-up, e.g. removing a half-started bottle.
   * @returns What `work` returned.
   */
  async cleanup<T>(work: () => Promise<T>): Promise<T> {
    const was = this.#unwinding;
    this.#unwinding = true;
    try {
      return await work();
    } finally {
      this.#unwinding = was;
    }
  }

  /**
   * Runs the undo steps a freeze or an import registered, as clean-up (see
   * {@linkcode Freezer.cleanup}).
   *
   * @param undo The steps.
   */
  async unwind(undo: AsyncDisposableStack): Promise<void> {
    await this.cleanup(() => undo.disposeAsync());
  }

  /** The command that resumes the bottle from its snapshot. */
  resumeCommand(agent: Agent): string {
    return `bot-bottle resume ${agent.slug}`;
  }

  /** The backend's name for the running bottle: `bot-bottle-<slug>`. */
  bottleName(slug: string): string {
    return `bot-bottle-${slug}`;
  }

  /**
   * A {@linkcode BackendError} for something a command's output showed,
   * rather than its exit status: a missing bottle, a state that cannot be
   * snapshotted, output that cannot be read.
   *
   * @param message The message.
   * @param command The registry command whose output showed it.
   * @param result That command's result, when there is one.
   */
  protected backendError(message: string, command: string, result?: CommandResult): BackendError {
    return new BackendError(message, {
      backend: this.backend,
      command,
      argv: result?.argv ?? [],
      exitCode: result?.exitCode,
      stdout: result?.stdout ?? "",
      stderr: result?.stderr ?? "",
    });
  }

  /**
   * Runs one of the backend's commands, explaining failures.
   *
   * @param name The command's name in the registry.
   * @param values The placeholder values.
   * @param agent The bottle the command is about, for messages.
   * @param options `signal: null` runs it even after an interrupt.
   */
  protected async run(
    name: string,
    values: TemplateValues,
    agent?: Agent,
    options: { signal?: AbortSignal | null } = {},
  ): Promise<CommandResult> {
    return await this.runPiped([name], values, agent, options);
  }

  /**
   * Runs the backend's commands as a pipeline (see
   * {@linkcode BackendCommands.runPiped}), explaining failures.
   *
   * @param names The commands' names in the registry, first to last.
   * @param values The placeholder values, shared by all of them.
   * @param agent The bottle the commands are about, for messages.
   * @param options `signal: null` runs them even after an interrupt.
   */
  protected async runPiped(
    names: readonly [string, ...string[]],
    values: TemplateValues,
    agent?: Agent,
    options: { signal?: AbortSignal | null } = {},
  ): Promise<CommandResult> {
    try {
      return await this.commands.runPiped(
        names,
        values,
        this.#unwinding ? { signal: null } : options,
      );
    } catch (error) {
      if (error instanceof BackendError) throw this.explainFailure(error, agent);
      throw error;
    }
  }

  /**
   * Snapshots the bottle and records the snapshot in its state directory.
   *
   * @param agent The bottle; its `backend` must be one this freezer serves.
   * @returns What was committed, with the resume and export commands.
   * @throws {BadInputError} When the bottle belongs to another backend.
   * @throws {CommitCancelled} When the user declined a confirmation; nothing was written.
   * @throws {BackendError} When the backend failed; nothing was written.
   */
  async commit(
    agent: Agent,
    options: { message?: string; pause?: boolean } = {},
  ): Promise<CommitResult> {
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
    const history = await agent.state.readHistory(this.backend);
    const legacy = history.snapshots.find((record) => record.id === "legacy");
    if (legacy) legacy.artifact = await this.adoptLegacy(agent, legacy.artifact);
    const id = newSnapshotId(new Date(), history.snapshots.map((record) => record.id));
    const record = (artifact: string, sizeBytes: number | null): SnapshotRecord => ({
      id,
      createdAt: new Date().toISOString(),
      backend: this.backend,
      artifact,
      sizeBytes,
      parent: history.resumedFrom,
      toolVersion: VERSION,
      message: options.message ?? null,
    });
    await agent.state.checkHistoryRoom(record("", null));
    const undo = new AsyncDisposableStack();
    let current: string;
    let warnings: string[];
    try {
      const frozen = await this.freeze(agent, {
        id,
        previous: history.snapshots.at(-1)?.artifact,
        undo,
        ...options.pause === false ? { pause: false } : {},
      });
      const { artifact, current: named = artifact, runConfig, sizeBytes }: Frozen =
        typeof frozen === "string" ? { artifact: frozen } : frozen;
      current = named;
      warnings = typeof frozen === "string" ? [] : frozen.warnings ?? [];
      history.snapshots.push(record(artifact, sizeBytes ?? null));
      try {
        await agent.state.recordCommit({ history, runConfig, committedImage: current });
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
      await this.unwind(undo);
      throw error;
    }
    const result: CommitResult = {
      slug: agent.slug,
      backend: this.backend,
      snapshotId: id,
      artifact: current,
      resumeCommand: this.resumeCommand(agent),
      exportCommand: this.exportCommand(agent, current),
      pruned: [],
      warnings,
    };
    this.log(`committed bottle "${agent.slug}" to ${current} (snapshot ${id})`);
    for (const warning of warnings) this.log(`warning: ${warning}`);
    this.log(`to resume from this snapshot: ${result.resumeCommand}`);
    this.log(`to export for migration: ${result.exportCommand}`);
    return result;
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
