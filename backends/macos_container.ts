/**
 * The Apple `container` freezer: `container export` of the bottle's root
 * filesystem, rebuilt into the image `bot-bottle-committed-<slug>:latest`.
 *
 * @module
 */

import { join } from "node:path";
import * as v from "valibot";
import { semver } from "../lib/_internal/semver.ts";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/state/agent.ts";
import {
  BackendError,
  BackendUnavailableError,
  BadInputError,
  Interrupted,
} from "../lib/errors.ts";
import { type FreezeContext, Freezer, type Frozen } from "../lib/freezer.ts";
import { type BottleStatus, type InventoryEntry, type StartSpec } from "../lib/backend.ts";
import { ImageBackend } from "./image.ts";
import type { ArtifactImages } from "../lib/archive/artifact_names.ts";
import { withTempDir } from "../lib/temp_dir.ts";
import {
  bottleExists,
  cliVersion,
  type ContainerSnapshot,
  findBottle,
  imageConfig,
  listBottles,
  ListedImage,
  normalise,
  runConfigOf,
  stateOf,
  statusOf,
} from "./_macos_container_cli.ts";

/** The first `container` release that exports a running container live. */
const LIVE_EXPORT = "1.2.1";
/** The first `container` release with `export`: older ones cannot snapshot at all. */
const FIRST_EXPORT = "0.10.0";
/** Apple's container names are at most 63 characters (a DNS label). */
const NAME_LIMIT = 63;

/** Runs bottles as Apple `container` containers; their snapshots are images. */
export class MacosContainerBackend extends ImageBackend {
  /** The registry commands this backend and its freezer run. */
  static override readonly requiredCommands: readonly string[] = [
    "version",
    "list",
    "stop",
    "start",
    "export",
    "exportImage",
    "imageLoad",
    "run",
    "remove",
    "imageList",
    "imageDelete",
    "tag",
    "imageSave",
  ];

  /** Refuses a slug whose container name would pass Apple's limit, then checks the `run` values. */
  override checkStart(slug: string, spec: StartSpec): void {
    this.#checkName(slug);
    super.checkStart(slug, spec);
  }

  /** The same name check as `start`, before `resume` changes anything. */
  override checkResume(agent: Agent): Promise<void> {
    this.#checkName(agent.slug);
    return Promise.resolve();
  }

  /** `bot-bottle-<slug>` must fit Apple's 63 characters, or `container run` fails later. */
  #checkName(slug: string): void {
    const name = this.bottleName(slug);
    if (name.length <= NAME_LIMIT) return;
    const room = NAME_LIMIT - this.bottleName("").length;
    throw new BadInputError(
      `the slug "${slug}" is too long for Apple container: its container name "${name}" has ` +
        `${name.length} characters and Apple allows at most ${NAME_LIMIT}, so a slug may have ` +
        `at most ${room}; pick a shorter --name`,
    );
  }

  /** `container exec -it bot-bottle-<slug> sh`. */
  override shellCommand(slug: string): string {
    return `container exec -it ${this.bottleName(slug)} sh`;
  }

  /** From `container list --all`: running, stopped (stopping and unknown count as running). */
  override async bottleStatus(slug: string): Promise<BottleStatus> {
    const bottle = (await listBottles(this)).find((each) =>
      each.configuration.id === this.bottleName(slug)
    );
    return bottle ? statusOf(stateOf(bottle)) : "absent";
  }

  /** `container delete --force`; an absent container is fine. */
  override async removeBottle(slug: string): Promise<void> {
    if ((await this.bottleStatus(slug)) === "absent") return;
    await this.run("remove", { container: this.bottleName(slug) });
  }

  /** Whether `container image list` has the image. */
  override async snapshotExists(artifact: string): Promise<boolean> {
    return (await this.#images()).has(normalise(artifact));
  }

  /**
   * Whether `name` is already the image the artifact holds: its listed
   * descriptor digest is one of the digests in the artifact's `index.json`
   * (the store is content-addressed and `image save` writes the stored index).
   */
  protected override async holdsImage(name: string, images: ArtifactImages): Promise<boolean> {
    const digest = (await this.#images()).get(normalise(name));
    return digest !== undefined && images.indexDigests.includes(digest);
  }

  /** `container image delete`; an absent image is fine. */
  override async removeSnapshot(agent: Agent, artifact: string): Promise<void> {
    if (!(await this.snapshotExists(artifact))) return;
    await this.run("imageDelete", { image: artifact }, agent);
  }

  /** Two queries: every container, every image. The image list gives no sizes. */
  override async inventory(
    bottles: readonly { slug: string; artifact?: string }[],
  ): Promise<Map<string, InventoryEntry>> {
    const states = new Map(
      (await listBottles(this)).map((
        bottle,
      ) => [bottle.configuration.id, statusOf(stateOf(bottle))]),
    );
    const images = await this.#images();
    return new Map(bottles.map((bottle) => [bottle.slug, {
      state: states.get(this.bottleName(bottle.slug)) ?? "absent",
      snapshotExists: bottle.artifact !== undefined && images.has(normalise(bottle.artifact)),
    }]));
  }

  /** Every image in the store: its name (normalised) → its descriptor digest, when listed. */
  async #images(): Promise<Map<string, string | undefined>> {
    const images = parseOutput(
      v.array(ListedImage),
      await this.run("imageList", {}),
      this.commands,
      "imageList",
    );
    return new Map(images.map((image) => [normalise(image.name), image.digest]));
  }

  /** Every image in the `container` image store. */
  protected override async imageReferences(): Promise<string[]> {
    return [...(await this.#images()).keys()];
  }

  /** The slugs of the running containers named `bot-bottle-<slug>`. */
  override async runningSlugs(): Promise<string[]> {
    const prefix = this.bottleName("");
    return (await listBottles(this))
      .filter((bottle) => stateOf(bottle) === "running")
      .map((bottle) => bottle.configuration.id)
      .filter((id) => id.startsWith(prefix))
      .map((id) => id.slice(prefix.length));
  }

  /**
   * Names a stopped container service with what to do. Matched on the
   * message, which reads the same in the plain and the Swift form (`Error:
   * <code>: "<message>"`); a missing plugin's message also names `container
   * system start`, among other causes, and is passed on as it is.
   */
  protected override explainFailure(error: BackendError): BackendError {
    if (/Ensure container system service has been started/.test(error.stderr)) {
      return new BackendUnavailableError(
        "the container system service is not running; start it with `container system start` " +
          "and try again",
        error,
        { cause: error },
      );
    }
    return error;
  }
}

/**
 * Snapshots an Apple `container` bottle. `container` has no commit: the
 * freezer exports the container's merged root filesystem as a tar and loads
 * it back as a one-layer OCI image, carrying over the original process
 * (command and arguments, environment, working directory, user) so the image
 * still runs. Volumes, mounts and memory are not captured.
 *
 * From `container` 1.2.1 a running container is exported live. Older
 * versions, and versions that cannot be read, export only stopped
 * containers: the freezer asks before stopping the bottle, and starts it
 * again afterwards unless told not to.
 */
export class MacosContainerFreezer extends Freezer<MacosContainerBackend> {
  /** The backend it snapshots with. */
  static readonly Backend: typeof MacosContainerBackend = MacosContainerBackend;

  /** Exports the bottle's filesystem and loads it as the committed image. */
  protected override async freeze(
    agent: Agent,
    { id, previous, undo }: FreezeContext,
  ): Promise<Frozen> {
    const name = this.bottles.bottleName(agent.slug);
    const image = `${this.bottles.imageRepository(agent.slug)}:${id}`;
    const version = await cliVersion(this.bottles, agent);
    if (version !== undefined && (await semver()).lt(version, FIRST_EXPORT)) {
      throw this.bottles.backendError(
        `container ${version} is too old to snapshot: it has no "container export" (added in ` +
          `${FIRST_EXPORT}); upgrade Apple's container CLI to ${FIRST_EXPORT} or later (1.2.1 ` +
          `and later snapshot without stopping the bottle), then commit again`,
        "version",
      );
    }
    const bottle = await findBottle(this.bottles, agent);
    const state = stateOf(bottle);
    if (state !== "running" && state !== "stopped") {
      throw this.bottles.backendError(
        `bottle "${agent.slug}" is ${state} on Apple container and cannot be snapshotted now; ` +
          `wait until it is running or stopped, then commit again`,
        "list",
      );
    }
    const live = version !== undefined && (await semver()).gte(version, LIVE_EXPORT);
    if (state === "running" && !live) {
      this.log(
        version === undefined
          ? `the container version could not be read; treating it as older than ${LIVE_EXPORT}, ` +
            `which exports only stopped containers`
          : `container ${version} exports only stopped containers (${LIVE_EXPORT} exports live)`,
      );
    }
    const mustStop = state === "running" && !live;
    // 0.10 builds the image itself, under one name: `:latest` cannot move there.
    const old = version !== undefined && (await semver()).satisfies(version, "0.10.x");
    const latest = old ? image : this.bottles.imageName(agent.slug);
    // Registered once the image exists, or may: an interrupted load can still finish.
    const undoLoad = () => {
      this.bottles.undoSnapshot(undo, agent, image);
      if (!old) this.bottles.undoMove(undo, latest, previous);
    };
    const sizeBytes = await this.bottles.whileStopped(agent, {
      running: mustStop,
      consequences: [
        "if it was started with --rm, stopping also deletes it and the bottle is lost",
      ],
      stop: () => this.bottles.run("stop", { container: name }, agent),
      start: () => this.bottles.run("start", { container: name }, agent, { signal: null }),
      startCommand: `container start ${name}`,
    }, async () => {
      try {
        const size = await this.#exportImage(agent, bottle, image, version);
        undoLoad();
        return size;
      } catch (error) {
        if (error instanceof Interrupted) undoLoad();
        if (
          mustStop && error instanceof BackendError && !(await bottleExists(this.bottles, agent))
        ) {
          throw new BackendError(
            `bottle "${agent.slug}" was deleted when it stopped (it was started with --rm), ` +
              `so there is nothing to snapshot`,
            error,
            { cause: error },
          );
        }
        throw error;
      }
    });
    return {
      artifact: image,
      current: latest,
      sizeBytes,
      runConfig: runConfigOf(bottle),
    };
  }

  /** Tags a snapshot made before histories were kept `:legacy`, before `:latest` moves. */
  protected override async adoptLegacy(agent: Agent, artifact: string): Promise<string> {
    const legacy = `${this.bottles.imageRepository(agent.slug)}:legacy`;
    if (artifact === legacy || !(await this.bottles.snapshotExists(artifact))) return artifact;
    await this.bottles.run("tag", { image: artifact, target: legacy }, agent);
    return legacy;
  }

  /** Exports, and loads the image under `image` and `:latest`; returns the layer's size. */
  async #exportImage(
    agent: Agent,
    bottle: ContainerSnapshot,
    image: string,
    version: string | undefined,
  ): Promise<number | undefined> {
    const name = bottle.configuration.id;
    if (version !== undefined && (await semver()).satisfies(version, "0.10.x")) {
      // 0.10 builds the image itself; it keeps no process config.
      await this.bottles.run("exportImage", { image, container: name }, agent);
      return undefined;
    }
    return await withTempDir(async (dir) => {
      const rootfs = join(dir, "rootfs.tar");
      await this.bottles.run("export", { path: rootfs, container: name }, agent);
      const size = (await Deno.stat(rootfs)).size;
      const archive = join(dir, "image.tar");
      // Loaded here: node:crypto and the layout code are for this step only, and every
      // command loads this module with the registry.
      const { writeOciImageArchive } = await import("../lib/archive/oci_image_layout.ts");
      await writeOciImageArchive(dir, {
        references: [image, this.bottles.imageName(agent.slug)],
        layer: rootfs,
        config: imageConfig(bottle, agent.slug),
        platform: bottle.configuration.platform ?? { os: "linux", architecture: "arm64" },
      }, archive);
      await this.bottles.run("imageLoad", { path: archive }, agent);
      return size;
    }, "bot-bottle-export-");
  }

  /** `container image save -o <slug>.tar <image>`. */
  override exportCommand(agent: Agent, artifact: string): string {
    return `container image save -o ${agent.slug}.tar ${artifact}`;
  }
}

export default MacosContainerFreezer;
