/**
 * The smolvm backend: runs bottles as smolvm machines. Its freezer is in
 * `smolmachines.ts`.
 *
 * @module
 */

import { semver } from "../lib/_internal/semver.ts";
import type { Agent } from "../lib/state/agent.ts";
import { BackendError, BadInputError } from "../lib/errors.ts";
import { fileOwnershipProblem } from "../lib/state/ownership.ts";
import {
  Backend,
  type BackendProbe,
  type BottleStatus,
  type ImportContext,
  type InventoryEntry,
  type PlatformContext,
  type StartSpec,
} from "../lib/backend.ts";

import {
  checkPlatform,
  CHECKPOINT_FLOOR,
  CHECKPOINT_SUFFIX,
  FLOOR,
  FLOOR_REASON,
  isCheckpoint,
  listMachines,
  PACK_SUFFIX,
  pointAt,
  removeSnapshotFiles,
  replaceWithLink,
  sizeOf,
  SNAPSHOTS,
  STUB,
} from "./_smolmachines.ts";

/** The oldest smolvm whose `machine create` and `delete` take `--name` (enough to delete). */
const NAMED_FLAGS = "1.0.2";

/**
 * Runs bottles as smolvm machines, started `--branchable` so that they can
 * be checkpointed; their snapshots are `.smolmachine` packs and
 * `.smolcheckpoint` checkpoints in the state directory.
 */
export class SmolmachinesBackend extends Backend {
  /** The registry commands this backend and its freezer run. */
  static override readonly requiredCommands: readonly string[] = [
    "list",
    "stop",
    "start",
    "startBranchable",
    "checkpoint",
    "pack",
    "packWorkspace",
    "packHelp",
    "version",
    "createFromImage",
    "createFromArtifact",
    "createFromCheckpoint",
    "delete",
  ];

  /** The version {@linkcode SmolmachinesBackend.needsVersion} read, for the start command. */
  #version: string | undefined;

  /**
   * The version, and whether `pack create` takes `--include-workspace`
   * (`workspace packs`); a smolvm older than the floor is a problem.
   */
  override async probe(): Promise<BackendProbe> {
    const { version } = await super.probe();
    if (version !== undefined && (await semver()).lt(version, FLOOR)) {
      return {
        version,
        features: [],
        problem: `smolvm ${version} is too old: bot-bottle needs ${FLOOR} or later`,
      };
    }
    return {
      ...version === undefined ? {} : { version },
      features: (await this.packsWorkspace()) ? ["workspace packs"] : [],
    };
  }

  /** Whether this smolvm's `pack create` takes `--include-workspace` (its `--help` lists it). */
  async packsWorkspace(agent?: Agent): Promise<boolean> {
    const { stdout } = await this.run("packHelp", {}, agent);
    return /(^|\s)--include-workspace\b/m.test(stdout);
  }

  /** `smolvm machine shell --name bot-bottle-<slug>`: a shell with a terminal and stdin. */
  override shellCommand(slug: string): string {
    return `smolvm machine shell --name ${this.bottleName(slug)}`;
  }

  /** smolvm machines take no environment, volumes or command from here: they belong in the image. */
  override checkStart(slug: string, spec: StartSpec): void {
    if (spec.env.length > 0 || spec.volumes.length > 0 || spec.command.length > 0) {
      throw new BadInputError(
        "smolmachines bottles take no --env, --volume or command from bot-bottle start; " +
          "build them into the image",
      );
    }
    this.commands.render("createFromImage", {
      container: this.bottleName(slug),
      image: spec.image,
    });
  }

  /**
   * `smolvm machine create --name … --net --image …`, then `machine start`.
   * The image is pulled inside the machine, which has no network unless
   * `--net` is given (a pack records it, so a resumed machine keeps it).
   * Environment, volumes and a command belong in the image: smolvm machines
   * take none from here (see {@linkcode SmolmachinesFreezer.checkStart}).
   */
  override async startBottle(slug: string, spec: StartSpec): Promise<void> {
    this.checkStart(slug, spec);
    await this.needsVersion(FLOOR, FLOOR_REASON);
    const container = this.bottleName(slug);
    await this.run("createFromImage", { container, image: spec.image });
    await this.startMachine(container);
  }

  /**
   * `smolvm machine start --name … --branchable`, so that `commit --mode full`
   * can checkpoint it (decided at start: it cannot be added later); plain
   * `machine start` on a smolvm older than 1.10.0, which has no checkpoints,
   * or whose version could not be read.
   *
   * @param container The machine.
   * @param agent The bottle, for messages.
   * @param options How the command runs (e.g. `signal: null` after an interrupt).
   */
  async startMachine(
    container: string,
    agent?: Agent,
    options: { signal?: AbortSignal | null } = {},
  ): Promise<void> {
    await this.run(await this.#startTemplate(agent), { container }, agent, options);
  }

  /** The command that starts the machine as bot-bottle does, for messages. */
  startCommandLine(container: string): string {
    return `smolvm machine start --name ${container} --branchable`;
  }

  async #startTemplate(agent?: Agent): Promise<"start" | "startBranchable"> {
    const version = this.#version ?? await this.needsVersion(FLOOR, FLOOR_REASON, agent);
    return version !== undefined && (await semver()).gte(version, CHECKPOINT_FLOOR)
      ? "startBranchable"
      : "start";
  }

  /**
   * Refuses, before `resume` changes anything, a smolvm older than 1.9.0, and
   * a full snapshot (a checkpoint) on a smolvm older than 1.10.0, which
   * cannot restore one.
   */
  override async checkResume(agent: Agent, artifact: string): Promise<void> {
    const version = await this.needsVersion(FLOOR, FLOOR_REASON, agent);
    if (
      isCheckpoint(artifact) && version !== undefined &&
      (await semver()).lt(version, CHECKPOINT_FLOOR)
    ) {
      throw new BadInputError(
        `the snapshot ${artifact} of bottle "${agent.slug}" is a full one (memory and disk), ` +
          `which smolvm ${version} cannot restore (checkpoints came with ${CHECKPOINT_FLOOR}); ` +
          `upgrade smolvm, or resume a disk snapshot with --at (see "bot-bottle snapshots ` +
          `${agent.slug}")`,
      );
    }
  }

  /**
   * `smolvm machine create --name … --from <artifact>` (a pack, or a
   * checkpoint: its memory comes back, processes and all), then
   * `machine start` (branchable, see {@linkcode SmolmachinesBackend.startMachine}).
   */
  override async resumeBottle(agent: Agent, artifact: string): Promise<void> {
    const container = this.bottleName(agent.slug);
    await this.run(
      isCheckpoint(artifact) ? "createFromCheckpoint" : "createFromArtifact",
      { container, path: artifact },
      agent,
    );
    await this.startMachine(container, agent);
  }

  /** From `smolvm machine ls --json`. */
  override async bottleStatus(slug: string): Promise<BottleStatus> {
    const machine = (await listMachines(this)).find((each) => each.name === this.bottleName(slug));
    return machine ? statusOf(machine.state) : "absent";
  }

  /** `smolvm machine delete --name … -f`; an absent machine is fine. */
  override async removeBottle(slug: string): Promise<void> {
    if ((await this.bottleStatus(slug)) === "absent") return;
    await this.needsVersion(NAMED_FLAGS, "machine create and delete take --name from 1.0.2");
    await this.run("delete", { container: this.bottleName(slug) });
  }

  /** Whether the `.smolmachine` file (or the checkpoint, a file or a directory) exists. */
  override async snapshotExists(artifact: string): Promise<boolean> {
    return await Deno.lstat(artifact).then(
      (info) => info.isFile || (isCheckpoint(artifact) && info.isDirectory),
      () => false,
    );
  }

  /**
   * A `.smolmachine` file, or a `.smolcheckpoint` file or directory, inside
   * the bottle's state directory, reached without following links.
   */
  override ownershipProblem(
    _slug: string,
    stateDir: string,
    artifact: string,
  ): Promise<string | undefined> {
    return isCheckpoint(artifact)
      ? fileOwnershipProblem(stateDir, artifact, CHECKPOINT_SUFFIX, true)
      : fileOwnershipProblem(stateDir, artifact, PACK_SUFFIX);
  }

  /**
   * A disk snapshot runs only on the CPU architecture it was packed on; a
   * full one only on the same host OS and CPU (smolvm: "same host OS and CPU
   * architecture only"). Refused as soon as the manifest is read.
   */
  override checkPlatform(context: PlatformContext): void {
    checkPlatform(context);
  }

  /** A `.smolmachine` is a file, not an image: there are no image names to check. */
  override checkImport(): Promise<void> {
    return Promise.resolve();
  }

  /** Removes the `.smolmachine` file and its stub, or the checkpoint, when they are the bottle's own. */
  override async removeSnapshot(agent: Agent, artifact: string): Promise<void> {
    await removeSnapshotFiles(agent, artifact);
  }

  /** Snapshot files in `<state>/snapshots/` that no snapshot records. */
  override async orphanSnapshots(agent: Agent, recorded: readonly string[]): Promise<string[]> {
    const orphans: string[] = [];
    try {
      for await (const entry of Deno.readDir(agent.state.path(SNAPSHOTS))) {
        const artifact = agent.state.path(`${SNAPSHOTS}/${entry.name}`);
        const snapshot = (entry.isFile && entry.name.endsWith(PACK_SUFFIX)) ||
          ((entry.isFile || entry.isDirectory) && isCheckpoint(entry.name));
        if (snapshot && !recorded.includes(artifact)) {
          orphans.push(artifact);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return orphans.sort();
  }

  /** One query, `smolvm machine ls --json`; sizes from the artifact files. */
  override async inventory(
    bottles: readonly { slug: string; artifact?: string }[],
  ): Promise<Map<string, InventoryEntry>> {
    const states = new Map(
      (await listMachines(this)).map((machine) => [machine.name, statusOf(machine.state)]),
    );
    const entries = new Map<string, InventoryEntry>();
    for (const bottle of bottles) {
      const size = bottle.artifact && (await this.snapshotExists(bottle.artifact))
        ? await sizeOf(bottle.artifact)
        : undefined;
      entries.set(bottle.slug, {
        state: states.get(this.bottleName(bottle.slug)) ?? "absent",
        ...size === undefined
          ? { snapshotExists: false }
          : { snapshotExists: true, snapshotBytes: size },
      });
    }
    return entries;
  }

  /**
   * Refuses a smolvm older than `floor`, naming the version found and the
   * one needed; returns the version (`undefined` when it cannot be read,
   * which is let through: `smolvm` itself then says what it does not know).
   */
  async needsVersion(floor: string, reason: string, agent?: Agent): Promise<string | undefined> {
    const result = await this.run("version", {}, agent);
    const version = (await semver()).coerce(result.stdout)?.version;
    this.#version = version;
    if (version !== undefined && (await semver()).lt(version, floor)) {
      throw this.backendError(
        `smolvm ${version} is too old: bot-bottle needs smolvm ${floor} or later (${reason}); ` +
          `upgrade smolvm, then try again`,
        "version",
        result,
      );
    }
    return version;
  }

  /** The `.smolmachine` or `.smolcheckpoint` file itself: nothing to save. */
  override async exportArtifact(
    agent: Agent,
    artifact: string,
    _dir: string,
  ): Promise<{ path: string; name: string }> {
    if (!isCheckpoint(artifact)) return { path: artifact, name: `artifact${PACK_SUFFIX}` };
    if (!(await Deno.lstat(artifact).then((info) => info.isFile, () => false))) {
      throw new BadInputError(
        `the checkpoint ${artifact} of bottle "${agent.slug}" is a directory (a checkpoint ` +
          `store's), which bot-bottle cannot export yet; commit the bottle with --mode disk and ` +
          `export that snapshot`,
      );
    }
    return { path: artifact, name: `artifact${CHECKPOINT_SUFFIX}` };
  }

  /** Moves the file to `snapshots/<id>.smolmachine`, linked to the launcher's name as the newest. */
  override async importArtifact(
    _slug: string,
    _from: string,
    file: string,
    stateDir: string,
    { id, earlier, undo }: ImportContext,
  ): Promise<{ artifact: string; current: string }> {
    await Deno.mkdir(`${stateDir}/${SNAPSHOTS}`, { recursive: true, mode: 0o700 });
    const full = isCheckpoint(file);
    const artifact = `${stateDir}/${SNAPSHOTS}/${id}${full ? CHECKPOINT_SUFFIX : PACK_SUFFIX}`;
    this.deferUndo(
      undo,
      `the half-imported ${artifact}`,
      `remove it: rm ${artifact}`,
      () =>
        Deno.remove(artifact).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }),
    );
    await Deno.rename(file, artifact).catch(() => Deno.copyFile(file, artifact));
    // A checkpoint is named by committed-image itself; the launcher's names stay on the newest pack.
    if (full) return { artifact, current: artifact };
    const previous = earlier.findLast((each) => each.endsWith(PACK_SUFFIX));
    const current = `${stateDir}/${STUB}.smolmachine`;
    this.deferUndo(
      undo,
      `the move of ${current} to the imported snapshot`,
      previous ? `link it back with: ln -f ${previous} ${current}` : `remove it: rm ${current}`,
      () => pointAt(previous, current),
    );
    await replaceWithLink(artifact, current);
    return { artifact, current };
  }

  /**
   * smolvm cannot carry a bottle through a registry: `smolvm pack push`
   * takes only `.smolmachine` sidecars (it reads the pack manifest from the
   * file's footer, smolvm-registry's push.rs), so the bottle's state has no
   * way to travel beside its snapshot. `export` and `import` move it.
   */
  protected override noRegistry(operation: "push" | "pull"): BadInputError {
    return new BadInputError(
      `the smolmachines backend cannot ${operation} bottles through a registry: smolvm pack ` +
        `push takes only .smolmachine files, so the bottle's state cannot travel beside its ` +
        `snapshot; move it with bot-bottle export and bot-bottle import`,
    );
  }

  /** The slugs of the running machines named `bot-bottle-<slug>` (the naming's bottle form). */
  override async runningSlugs(): Promise<string[]> {
    return (await listMachines(this)).flatMap((machine) => {
      const slug = this.slugOfBottle(machine.name);
      return machine.state === "running" && slug !== undefined ? [slug] : [];
    });
  }

  /**
   * Keeps smolvm's own words; names a missing machine in the user's terms,
   * and a checkpoint refused for a host-bound resource with `--mode disk`.
   */
  protected override explainFailure(error: BackendError, agent?: Agent): BackendError {
    const held = /portable checkpoint profile does not support (.+?); stop or detach/
      .exec(error.stderr)?.[1];
    if (agent && held !== undefined) {
      return new BackendError(
        `bottle "${agent.slug}" holds resources bound to this host that smolvm's checkpoint ` +
          `does not support (${held}), so its memory cannot be captured; commit it with ` +
          `--mode disk, which works`,
        error,
        { cause: error },
      );
    }
    if (agent && /VM '[^']*' not found|vm not found/.test(error.stderr)) {
      return new BackendError(
        `bottle "${agent.slug}" has no machine "${this.bottleName(agent.slug)}" on smolvm ` +
          `(smolvm says: ${error.stderr.trim().split("\n").at(-1)})`,
        error,
        { cause: error },
      );
    }
    return error;
  }
}

/** smolvm's machine states as bot-bottle reports them: only a stopped or created machine is at rest. */
function statusOf(state: string): BottleStatus {
  return state === "stopped" || state === "created" || state === "failed" ? "stopped" : "running";
}
