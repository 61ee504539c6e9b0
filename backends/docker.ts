/**
 * The Docker backend: `docker commit` of the bottle's container into
 * `bot-bottle-committed-<slug>:latest`, and `docker run` to start and resume.
 * This module is the one the registry names: it has the freezer, and
 * re-exports the backend (`docker_backend.ts`).
 *
 * @module
 */

import * as v from "valibot";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/state/agent.ts";
import type { CommandResult } from "../lib/registry/backend_commands.ts";
import { Interrupted } from "../lib/errors.ts";
import { type FreezeContext, Freezer, type Frozen } from "../lib/freezer.ts";
import { DockerBackend } from "./docker_backend.ts";
import { emptyRunConfig, type RunConfig } from "../lib/state/run_config.ts";
import { KINDS } from "../lib/registry/template.ts";

export { DockerBackend };

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
      await this.bottles.pruneSnapshots(agent);
      [snapshot] = await this.#inspectImage(agent, image);
    }
    return {
      artifact: image,
      current: latest,
      sizeBytes: snapshot.Size,
      ...inspected === undefined ? {} : { runConfig: this.#runConfig(inspected) },
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

export default DockerFreezer;
