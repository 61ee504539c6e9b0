/**
 * The Docker backend: `docker commit` of the bottle's container into
 * `bot-bottle-committed-<slug>:latest`, and `docker run` to start and resume.
 *
 * @module
 */

import * as v from "valibot";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/agent.ts";
import type { CommandResult } from "../lib/backend_commands.ts";
import { BackendError, BackendUnavailableError } from "../lib/errors.ts";
import { type BottleStatus, Freezer, type Frozen, type InventoryEntry } from "../lib/freezer.ts";
import { emptyRunConfig, type RunConfig } from "../lib/run_config.ts";
import { KINDS } from "../lib/template.ts";

const SLUG_LABEL = "bot-bottle.slug";

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
export class DockerFreezer extends Freezer {
  /** The registry commands this freezer runs. */
  static override readonly requiredCommands = [
    "commit",
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
  ];

  /**
   * Runs `docker commit` into `bot-bottle-committed-<slug>:<id>`, reading the
   * container's run configuration at the same time, then moves `:latest` to
   * it and reads its size.
   */
  protected override async freeze(agent: Agent, id: string): Promise<Frozen> {
    const image = this.imageRepository(agent.slug) + `:${id}`;
    const latest = this.imageName(agent.slug);
    const container = this.bottleName(agent.slug);
    // No separate state probe: docker commit's own error says when the
    // container is missing or the engine is down.
    const [, inspected] = await Promise.all([
      this.run("commit", { slug: agent.slug, container, image }, agent),
      this.run("inspect", { container }, agent).then(
        (result) => result,
        () => undefined, // the commit's error says why
      ),
    ]);
    const [, sizes] = await Promise.all([
      this.run("tag", { image, target: latest }, agent),
      this.run("snapshotSizes", { image: [image] }, agent),
    ]);
    return {
      artifact: image,
      current: latest,
      sizeBytes: Number(sizes.stdout.trim().split(" ").at(-1)) || undefined,
      runConfig: inspected && this.#runConfig(inspected),
    };
  }

  /** Tags a snapshot made before histories were kept `:legacy`, before `:latest` moves. */
  protected override async adoptLegacy(agent: Agent, artifact: string): Promise<string> {
    const legacy = `${this.imageRepository(agent.slug)}:legacy`;
    if (artifact === legacy) return legacy;
    try {
      await this.run("tag", { image: artifact, target: legacy }, agent);
      return legacy;
    } catch (error) {
      if (error instanceof BackendError && /No such image/i.test(error.stderr)) return artifact;
      throw error;
    }
  }

  #runConfig(inspected: CommandResult): RunConfig {
    const [{ Config: config, HostConfig: host, Mounts: mounts }] = parseOutput(
      Inspect,
      inspected,
      this.commands,
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

  /** `docker save -o <slug>.tar <image>`. */
  override exportCommand(agent: Agent, artifact: string): string {
    return `docker save -o ${agent.slug}.tar ${artifact}`;
  }

  /** `docker exec -it bot-bottle-<slug> sh`. */
  override shellCommand(slug: string): string {
    return `docker exec -it ${this.bottleName(slug)} sh`;
  }

  /** From `docker container inspect --format {{.State.Status}}`. */
  override async bottleStatus(slug: string): Promise<BottleStatus> {
    try {
      const { stdout } = await this.run("state", { container: this.bottleName(slug) });
      return statusOf(stdout.trim());
    } catch (error) {
      if (error instanceof BackendError && /No such (container|object)/i.test(error.stderr)) {
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
      if (!(error instanceof BackendError) || !/No such container/i.test(error.stderr)) throw error;
    }
  }

  /** `docker image inspect`. */
  override async snapshotExists(artifact: string): Promise<boolean> {
    try {
      await this.run("imageId", { image: artifact });
      return true;
    } catch (error) {
      if (error instanceof BackendError && /No such image/i.test(error.stderr)) return false;
      throw error;
    }
  }

  /** `docker image rm` of the tag, then any untagged image of the bottle. */
  override async removeSnapshot(agent: Agent, artifact: string): Promise<void> {
    try {
      await this.run("imageDelete", { image: artifact }, agent);
    } catch (error) {
      if (!(error instanceof BackendError) || !/No such image/i.test(error.stderr)) throw error;
    }
    await this.run("pruneSnapshots", { slug: agent.slug }, agent);
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
    if (
      /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i.test(
        said,
      )
    ) {
      return new BackendUnavailableError(
        `cannot reach the Docker engine (${said}); start Docker and try again`,
        error,
        { cause: error },
      );
    }
    if (/permission denied.*docker/i.test(said)) {
      return new BackendUnavailableError(
        `not allowed to use the Docker engine (${said}); add your user to the "docker" group ` +
          `or run as a user that may use Docker`,
        error,
        { cause: error },
      );
    }
    if (agent && error.command === "commit" && /No such container/i.test(said)) {
      return new BackendError(
        `bottle "${agent.slug}" has no container "${this.bottleName(agent.slug)}" on Docker; ` +
          `it has stopped and been removed, or was started elsewhere; see "docker ps -a"`,
        error,
        { cause: error },
      );
    }
    return error;
  }
}

/** Docker's container states, as bot-bottle reports them. */
function statusOf(state: string): BottleStatus {
  // A paused or restarting container is alive: nothing may remove it unasked.
  if (state === "running" || state === "restarting" || state === "paused") return "running";
  return state === "" ? "absent" : "stopped";
}

export default DockerFreezer;
