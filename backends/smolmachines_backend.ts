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
import type { FreezeContext } from "../lib/freezer.ts";
import {
  Backend,
  type BackendProbe,
  type BottleStatus,
  type InventoryEntry,
  type StartSpec,
} from "../lib/backend.ts";

import {
  FLOOR,
  FLOOR_REASON,
  listMachines,
  pointAt,
  replaceWithLink,
  SNAPSHOTS,
  STUB,
} from "./_smolmachines.ts";

/** The oldest smolvm whose `machine create` and `delete` take `--name` (enough to delete). */
const NAMED_FLAGS = "1.0.2";

/** Runs bottles as smolvm machines; their snapshots are `.smolmachine` files in the state directory. */
export class SmolmachinesBackend extends Backend {
  /** The registry commands this backend and its freezer run. */
  static override readonly requiredCommands: readonly string[] = [
    "list",
    "stop",
    "start",
    "pack",
    "packWorkspace",
    "packHelp",
    "version",
    "createFromImage",
    "createFromArtifact",
    "delete",
  ];

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
    await this.run("start", { container });
  }

  /** Refuses a smolvm older than 1.9.0 before `resume` changes anything. */
  override async checkResume(agent: Agent): Promise<void> {
    await this.needsVersion(FLOOR, FLOOR_REASON, agent);
  }

  /** `smolvm machine create --name … --from <artifact>`, then `machine start`. */
  override async resumeBottle(agent: Agent, artifact: string): Promise<void> {
    const container = this.bottleName(agent.slug);
    await this.run("createFromArtifact", { container, path: artifact }, agent);
    await this.run("start", { container }, agent);
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

  /** Whether the `.smolmachine` file exists. */
  override async snapshotExists(artifact: string): Promise<boolean> {
    return await Deno.lstat(artifact).then((info) => info.isFile, () => false);
  }

  /** A `.smolmachine` file inside the bottle's state directory, reached without following links. */
  override ownershipProblem(
    _slug: string,
    stateDir: string,
    artifact: string,
  ): Promise<string | undefined> {
    return fileOwnershipProblem(stateDir, artifact, ".smolmachine");
  }

  /** A `.smolmachine` is a file, not an image: there are no image names to check. */
  override checkImport(): Promise<void> {
    return Promise.resolve();
  }

  /** Removes the `.smolmachine` file and its stub, when they are the bottle's own. */
  override async removeSnapshot(agent: Agent, artifact: string): Promise<void> {
    const inside = artifact.startsWith(agent.state.dir + "/") &&
      artifact.endsWith(".smolmachine") &&
      !artifact.slice(agent.state.dir.length).includes("/..");
    if (!inside) {
      throw new BadInputError(
        `the snapshot ${artifact} is outside the state directory of bottle "${agent.slug}"; ` +
          `it was left alone: remove it by hand`,
      );
    }
    for (const file of [artifact, artifact.slice(0, -".smolmachine".length)]) {
      await Deno.remove(file).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
  }

  /** Snapshot files in `<state>/snapshots/` that no snapshot records. */
  override async orphanSnapshots(agent: Agent, recorded: readonly string[]): Promise<string[]> {
    const orphans: string[] = [];
    try {
      for await (const entry of Deno.readDir(agent.state.path(SNAPSHOTS))) {
        const artifact = agent.state.path(`${SNAPSHOTS}/${entry.name}`);
        if (entry.isFile && entry.name.endsWith(".smolmachine") && !recorded.includes(artifact)) {
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
      const size = bottle.artifact
        ? await Deno.lstat(bottle.artifact).then((info) => info.size, () => undefined)
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

  /** The `.smolmachine` file itself: nothing to save. */
  override exportArtifact(
    _agent: Agent,
    artifact: string,
    _dir: string,
  ): Promise<{ path: string; name: string }> {
    return Promise.resolve({ path: artifact, name: "artifact.smolmachine" });
  }

  /** Moves the file to `snapshots/<id>.smolmachine`, linked to the launcher's name as the newest. */
  override async importArtifact(
    _slug: string,
    _from: string,
    file: string,
    stateDir: string,
    { id, previous, undo }: FreezeContext,
  ): Promise<{ artifact: string; current: string }> {
    await Deno.mkdir(`${stateDir}/${SNAPSHOTS}`, { recursive: true, mode: 0o700 });
    const artifact = `${stateDir}/${SNAPSHOTS}/${id}.smolmachine`;
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

  /** Keeps smolvm's own words; names a missing machine in the user's terms. */
  protected override explainFailure(error: BackendError, agent?: Agent): BackendError {
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
