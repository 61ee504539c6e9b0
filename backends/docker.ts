/**
 * The Docker backend: `docker commit` of the bottle's container into
 * `bot-bottle-committed-<slug>:latest`, and `docker run` to start and resume.
 *
 * @module
 */

import * as v from "valibot";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/state/agent.ts";
import type { ArtifactImages } from "../lib/archive/artifact_names.ts";
import type { CommandResult } from "../lib/registry/backend_commands.ts";
import {
  BackendError,
  BackendUnavailableError,
  BadInputError,
  Interrupted,
} from "../lib/errors.ts";
import { type FreezeContext, Freezer, type Frozen } from "../lib/freezer.ts";
import type { BackendOptions, BackendSpec, BottleStatus, InventoryEntry } from "../lib/backend.ts";
import type { Engine } from "../lib/registry/registry_schema.ts";
import { ImageBackend } from "./image.ts";
import { emptyRunConfig, type RunConfig } from "../lib/state/run_config.ts";
import { KINDS } from "../lib/registry/template.ts";

const SLUG_LABEL = "bot-bottle.slug";

/**
 * A snapshot with this many layers is flattened into one. Docker refuses to
 * run or commit an image past ~125 layers (overlay2), and every commit of a
 * resumed bottle adds one.
 */
export const FLATTEN_AT_LAYERS = 100;

const ImageInspect = v.tuple([v.looseObject({
  Size: v.number(),
  RootFS: v.looseObject({ Layers: v.nullish(v.array(v.string())) }),
  Config: v.nullish(v.looseObject({
    Cmd: v.nullish(v.array(v.string())),
    Entrypoint: v.nullish(v.array(v.string())),
    Env: v.nullish(v.array(v.string())),
    WorkingDir: v.nullish(v.string()),
    User: v.nullish(v.string()),
    Labels: v.nullish(v.record(v.string(), v.string())),
    ExposedPorts: v.nullish(v.record(v.string(), v.unknown())),
    Volumes: v.nullish(v.record(v.string(), v.unknown())),
  })),
})]);
type ImageConfig = NonNullable<v.InferOutput<typeof ImageInspect>[0]["Config"]>;

const Inspect = v.tuple([v.looseObject({
  Config: v.looseObject({
    Env: v.nullish(v.array(v.string())),
    WorkingDir: v.nullish(v.string()),
    User: v.nullish(v.string()),
    Labels: v.nullish(v.record(v.string(), v.string())),
    Tty: v.nullish(v.boolean()),
    OpenStdin: v.nullish(v.boolean()),
  }),
  HostConfig: v.nullish(v.looseObject({ NetworkMode: v.nullish(v.string()) })),
  Mounts: v.nullish(v.array(v.looseObject({
    Type: v.string(),
    Source: v.nullish(v.string()),
    Destination: v.string(),
    Name: v.nullish(v.string()),
    RW: v.nullish(v.boolean()),
  }))),
})]);

/**
 * Runs bottles as containers of Docker or a Docker-compatible engine (podman,
 * nerdctl…); their snapshots are images. What differs between engines — the
 * executable and its templates, its error wording, the hints — comes from
 * the registry entry's `commands` and `engine`.
 */
export class DockerBackend extends ImageBackend {
  /** Its error wording and hints are the registry entry's `engine`. */
  static override readonly needsEngine: boolean = true;

  /** The registry commands this backend and its freezer run. */
  static override readonly requiredCommands: readonly string[] = [
    "commit",
    "commitNoPause",
    "tag",
    "inspect",
    "pruneSnapshots",
    "run",
    "state",
    "remove",
    "listAll",
    "imageId",
    "imageDelete",
    "listSnapshots",
    "snapshotSizes",
    "imageSave",
    "imageLoad",
    "imageInspect",
    "createStopped",
    "exportContainer",
    "importImage",
  ];

  /** The engine's wording, from the registry entry. */
  get engine(): Engine {
    if (this.#engine) return this.#engine;
    throw new BadInputError(
      `backends.${this.name}.engine is missing from the registry; the docker module needs it`,
    );
  }

  readonly #engine: Engine | undefined;
  readonly #patterns = new Map<keyof Engine["errors"], RegExp>();

  /**
   * Builds the backend from its registry entry, with its engine's wording.
   *
   * @param spec The backend's registry entry.
   * @param options Where user-facing lines go, and how to ask the user.
   */
  constructor(spec: BackendSpec, options: BackendOptions = {}) {
    super(spec, options);
    this.#engine = spec.engine;
  }

  /**
   * Whether a failure is the engine saying `kind` (e.g. that there is no such image).
   *
   * @param error The failure.
   * @param kind What the engine's words would mean.
   */
  says(error: unknown, kind: keyof Engine["errors"]): error is BackendError {
    return error instanceof BackendError && this.#means(error.stderr, kind);
  }

  /** Whether the engine's words `text` mean `kind`. */
  #means(text: string, kind: keyof Engine["errors"]): boolean {
    let pattern = this.#patterns.get(kind);
    if (!pattern) this.#patterns.set(kind, pattern = new RegExp(this.engine.errors[kind], "i"));
    return pattern.test(text);
  }

  /**
   * One of the engine's hints, its placeholders filled.
   *
   * @param kind Which hint.
   * @param values `slug`, `container` and `image`.
   */
  hint(kind: keyof Engine["hints"], values: Record<string, string> = {}): string {
    return this.engine.hints[kind].replace(
      /\{(slug|container|image)\}/g,
      (whole, key: string) => values[key] ?? whole,
    );
  }

  /** The engine's shell hint, e.g. `docker exec -it bot-bottle-<slug> sh`. */
  override shellCommand(slug: string): string {
    return this.hint("shell", { slug, container: this.bottleName(slug) });
  }

  /** From `docker container inspect --format {{.State.Status}}`. */
  override async bottleStatus(slug: string): Promise<BottleStatus> {
    try {
      const { stdout } = await this.run("state", { container: this.bottleName(slug) });
      return statusOf(stdout.trim());
    } catch (error) {
      if (this.says(error, "noSuchContainer")) {
        return "absent";
      }
      throw error;
    }
  }

  /** `docker container rm --force`; an absent container is fine. */
  override async removeBottle(slug: string): Promise<void> {
    try {
      await this.run("remove", { container: this.bottleName(slug) });
    } catch (error) {
      if (!this.says(error, "noSuchContainer")) throw error;
    }
  }

  /** `docker image inspect`. */
  override async snapshotExists(artifact: string): Promise<boolean> {
    return (await this.#imageId(artifact)) !== undefined;
  }

  /** The image's id, or `undefined` when there is no such image. */
  async #imageId(image: string, agent?: Agent): Promise<string | undefined> {
    try {
      return (await this.run("imageId", { image }, agent)).stdout.trim();
    } catch (error) {
      if (this.says(error, "noSuchImage")) return undefined;
      throw error;
    }
  }

  /** Whether `name` is already the image the artifact holds (Docker's image id is its config digest). */
  protected override async holdsImage(name: string, images: ArtifactImages): Promise<boolean> {
    return images.configDigest !== undefined && (await this.#imageId(name)) === images.configDigest;
  }

  /** `docker image rm` of the tag, then any untagged image of the bottle. */
  override async removeSnapshot(agent: Agent, artifact: string): Promise<void> {
    try {
      await this.run("imageDelete", { image: artifact }, agent);
    } catch (error) {
      if (!this.says(error, "noSuchImage")) throw error;
    }
    await this.run("pruneSnapshots", { slug: agent.slug }, agent);
  }

  /** Every labelled snapshot image, from `docker image ls`. */
  protected override async imageReferences(agent: Agent): Promise<string[]> {
    return (await this.run("listSnapshots", {}, agent)).stdout.split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
  }

  /** Tags the newest snapshot `:latest` again when `:latest` is on another image. */
  override async repointCurrent(
    agent: Agent,
    current: string,
    newest: string,
    check = false,
  ): Promise<boolean> {
    if (current !== this.imageName(agent.slug) || current === newest) return false;
    const [at, wanted] = await Promise.all([
      this.#imageId(current, agent),
      this.#imageId(newest, agent),
    ]);
    if (wanted === undefined || at === wanted) return false;
    if (!check) await this.run("tag", { image: newest, target: current }, agent);
    return true;
  }

  /** Three queries: every bottle container, every snapshot image, their sizes. */
  override async inventory(
    bottles: readonly { slug: string; artifact?: string }[],
  ): Promise<Map<string, InventoryEntry>> {
    const states = new Map<string, BottleStatus>();
    for (const line of (await this.run("listAll", {})).stdout.split("\n")) {
      const [name, state] = line.trim().split("\t");
      if (name?.startsWith(this.bottleName(""))) states.set(name, statusOf(state ?? ""));
    }
    const present = new Set(
      (await this.run("listSnapshots", {})).stdout.split("\n").map((line) => line.trim()),
    );
    const wanted = bottles.flatMap((bottle) =>
      bottle.artifact && present.has(bottle.artifact) ? [bottle.artifact] : []
    );
    const sizes = new Map<string, number>();
    if (wanted.length > 0) {
      for (const line of (await this.run("snapshotSizes", { image: wanted })).stdout.split("\n")) {
        const match = line.match(/^(\[.*\]) (\d+)$/);
        if (!match) continue;
        for (const tag of JSON.parse(match[1]) as string[]) sizes.set(tag, Number(match[2]));
      }
    }
    return new Map(bottles.map((bottle) => [bottle.slug, {
      state: states.get(this.bottleName(bottle.slug)) ?? "absent",
      snapshotExists: bottle.artifact !== undefined && present.has(bottle.artifact),
      snapshotBytes: bottle.artifact ? sizes.get(bottle.artifact) : undefined,
    }]));
  }

  /** The slugs of the running containers named `bot-bottle-<slug>`. */
  override async runningSlugs(): Promise<string[]> {
    const prefix = this.bottleName("");
    return (await this.run("listAll", {})).stdout.split("\n")
      .map((line) => line.trim().split("\t"))
      .filter(([name, state]) => name.startsWith(prefix) && statusOf(state ?? "") === "running")
      .map(([name]) => name.slice(prefix.length));
  }

  /** Names an unreachable engine, a refused socket, or a missing container. */
  protected override explainFailure(error: BackendError, agent?: Agent): BackendError {
    const said = error.stderr.trim().split("\n").at(-1) ?? "";
    const { name } = this.engine;
    if (this.#means(said, "unreachable")) {
      return new BackendUnavailableError(
        `cannot reach the ${name} engine (${said}); ${this.hint("unreachable")}`,
        error,
        { cause: error },
      );
    }
    if (this.#means(said, "denied")) {
      return new BackendUnavailableError(
        `not allowed to use the ${name} engine (${said}); ${this.hint("denied")}`,
        error,
        { cause: error },
      );
    }
    if (agent && error.command === "commit" && this.#means(said, "noSuchContainer")) {
      return new BackendError(
        `bottle "${agent.slug}" has no container "${this.bottleName(agent.slug)}" on ${name}; ` +
          `it has stopped and been removed, or was started elsewhere; see "${this.hint("list")}"`,
        error,
        { cause: error },
      );
    }
    return error;
  }
}

/**
 * Snapshots a Docker bottle with `docker commit`, which pauses the container
 * while it copies the filesystem changes and keeps the image config (command,
 * entrypoint, environment, working directory, user). Volumes, bind mounts,
 * published ports and memory are not captured; the commit records the
 * container's mounts, network, labels and terminal settings in
 * `run-config.json`, and `resume` passes them to `docker run` again.
 *
 * Each snapshot is its own tag, `bot-bottle-committed-<slug>:<id>`, and
 * `:latest` moves to the newest, so no commit leaves an image untagged. The
 * snapshots carry the label `bot-bottle.slug=<slug>`, by which removing a
 * bottle's snapshots also removes any untagged image of it.
 */
export class DockerFreezer extends Freezer<DockerBackend> {
  /** The backend it snapshots with. */
  static readonly Backend: typeof DockerBackend = DockerBackend;

  /** `docker commit --pause=false`: the agent runs on while its files are copied. */
  override readonly commitsWithoutPause = true;

  /**
   * Runs `docker commit` into `bot-bottle-committed-<slug>:<id>`, reading the
   * container's run configuration at the same time, flattens the snapshot
   * when it nears Docker's layer limit, then moves `:latest` to it. Each
   * step registers its undoing first.
   */
  protected override async freeze(
    agent: Agent,
    { id, previous, undo, pause }: FreezeContext,
  ): Promise<Frozen> {
    const image = this.bottles.imageRepository(agent.slug) + `:${id}`;
    const latest = this.bottles.imageName(agent.slug);
    const container = this.bottles.bottleName(agent.slug);
    // No separate state probe: docker commit's own error says when the
    // container is missing or the engine is down.
    let inspected: CommandResult | undefined;
    try {
      [, inspected] = await Promise.all([
        this.bottles.run(
          pause === false ? "commitNoPause" : "commit",
          { slug: agent.slug, container, image },
          agent,
        ),
        this.bottles.run("inspect", { container }, agent).then(
          (result) => result,
          () => undefined, // the commit's error says why
        ),
      ]);
    } catch (error) {
      // An interrupted commit may still finish in the engine.
      if (error instanceof Interrupted) this.bottles.undoSnapshot(undo, agent, image);
      throw error;
    }
    this.bottles.undoSnapshot(undo, agent, image);
    const moveLatest = async () => {
      await this.bottles.run("tag", { image, target: latest }, agent);
      this.bottles.undoMove(undo, latest, previous);
    };
    // Both settle before a failure is thrown, so the undo steps are complete.
    const [moved, inspectedImage] = await Promise.allSettled([
      moveLatest(),
      this.#inspectImage(agent, image),
    ]);
    if (moved.status === "rejected") throw moved.reason;
    if (inspectedImage.status === "rejected") throw inspectedImage.reason;
    let [snapshot] = inspectedImage.value;
    const layers = snapshot.RootFS.Layers?.length ?? 0;
    if (layers >= FLATTEN_AT_LAYERS) {
      this.log(
        `snapshot ${image} has ${layers} layers, near Docker's limit of about 125; ` +
          `flattening it into one layer`,
      );
      await this.#flatten(agent, id, image, snapshot.Config ?? {});
      await this.bottles.run("tag", { image, target: latest }, agent);
      // The layered image, untagged now, goes.
      await this.bottles.run("pruneSnapshots", { slug: agent.slug }, agent);
      [snapshot] = await this.#inspectImage(agent, image);
    }
    return {
      artifact: image,
      current: latest,
      sizeBytes: snapshot.Size,
      runConfig: inspected && this.#runConfig(inspected),
    };
  }

  async #inspectImage(agent: Agent, image: string) {
    const result = await this.bottles.run("imageInspect", { image }, agent);
    return parseOutput(ImageInspect, result, this.bottles.commands, "imageInspect");
  }

  /**
   * Replaces the image `image` with one of a single layer holding the same
   * files (`docker export` of a stopped container made from it, piped into
   * `docker import`) and the same config (`--change`).
   */
  async #flatten(agent: Agent, id: string, image: string, config: ImageConfig): Promise<void> {
    const temp = `bot-bottle.flatten-${agent.slug}-${id}`;
    await this.bottles.run("createStopped", { container: temp, slug: agent.slug, image }, agent);
    try {
      await this.bottles.runPiped(["exportContainer", "importImage"], {
        container: temp,
        image,
        change: importChanges(config),
      }, agent);
    } finally {
      await this.bottles.run("remove", { container: temp }, agent, { signal: null }).catch(
        () => {},
      );
    }
  }

  /** Tags a snapshot made before histories were kept `:legacy`, before `:latest` moves. */
  protected override async adoptLegacy(agent: Agent, artifact: string): Promise<string> {
    const legacy = `${this.bottles.imageRepository(agent.slug)}:legacy`;
    if (artifact === legacy) return legacy;
    try {
      await this.bottles.run("tag", { image: artifact, target: legacy }, agent);
      return legacy;
    } catch (error) {
      if (this.bottles.says(error, "noSuchImage")) return artifact;
      throw error;
    }
  }

  #runConfig(inspected: CommandResult): RunConfig {
    const [{ Config: config, HostConfig: host, Mounts: mounts }] = parseOutput(
      Inspect,
      inspected,
      this.bottles.commands,
      "inspect",
    );
    const runConfig = emptyRunConfig();
    runConfig.env = config.Env ?? [];
    for (const mount of mounts ?? []) {
      const source = mount.Type === "bind"
        ? mount.Source
        : mount.Type === "volume"
        ? mount.Name
        : undefined;
      if (!source) continue;
      runConfig.volumes.push(`${source}:${mount.Destination}${mount.RW === false ? ":ro" : ""}`);
    }
    if (config.WorkingDir) runConfig.workdir = config.WorkingDir;
    if (config.User) runConfig.user = config.User;
    const network = host?.NetworkMode;
    if (
      network && !["default", "bridge"].includes(network) && KINDS.containerName.accepts(network)
    ) {
      runConfig.network = network;
    }
    runConfig.labels = Object.entries(config.Labels ?? {})
      .filter(([key]) => key !== SLUG_LABEL && !key.startsWith("com.docker."))
      .map(([key, value]) => `${key}=${value}`);
    runConfig.tty = config.Tty === true;
    runConfig.interactive = config.OpenStdin === true;
    return runConfig;
  }

  /** The engine's export hint, e.g. `docker save -o <slug>.tar <image>`. */
  override exportCommand(agent: Agent, artifact: string): string {
    return this.bottles.hint("export", { slug: agent.slug, image: artifact });
  }
}

/**
 * An image's config as `docker import --change` instructions. Values are
 * double-quoted where Docker would expand `$` or split on spaces.
 */
export function importChanges(config: ImageConfig): string[] {
  const quote = (value: string) => `"${value.replace(/[\\"$]/g, "\\$&")}"`;
  const changes: string[] = [];
  if (config.Entrypoint?.length) changes.push(`ENTRYPOINT ${JSON.stringify(config.Entrypoint)}`);
  if (config.Cmd?.length) changes.push(`CMD ${JSON.stringify(config.Cmd)}`);
  for (const variable of config.Env ?? []) {
    const at = variable.indexOf("=");
    if (at > 0) changes.push(`ENV ${variable.slice(0, at)}=${quote(variable.slice(at + 1))}`);
  }
  if (config.WorkingDir) changes.push(`WORKDIR ${config.WorkingDir}`);
  if (config.User) changes.push(`USER ${config.User}`);
  for (const [key, value] of Object.entries(config.Labels ?? {})) {
    changes.push(`LABEL ${quote(key)}=${quote(value)}`);
  }
  for (const port of Object.keys(config.ExposedPorts ?? {})) changes.push(`EXPOSE ${port}`);
  const volumes = Object.keys(config.Volumes ?? {});
  if (volumes.length > 0) changes.push(`VOLUME ${JSON.stringify(volumes)}`);
  // A value spanning lines cannot be said in one instruction: it is left out.
  return changes.filter((change) => !/[\n\r\0]/.test(change));
}

/** Docker's container states, as bot-bottle reports them. */
function statusOf(state: string): BottleStatus {
  // A paused or restarting container is alive: nothing may remove it unasked.
  if (state === "running" || state === "restarting" || state === "paused") return "running";
  return state === "" ? "absent" : "stopped";
}

export default DockerFreezer;
