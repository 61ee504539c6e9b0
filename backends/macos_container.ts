/**
 * The Apple `container` freezer: `container export` of the bottle's root
 * filesystem, rebuilt into the image `bot-bottle-committed-<slug>:latest`.
 * This module is the one the registry names: it has the freezer, and
 * re-exports the backend (`macos_container_backend.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { semver } from "../lib/_internal/semver.ts";
import type { Agent } from "../lib/state/agent.ts";
import { BackendError, Interrupted } from "../lib/errors.ts";
import { type FreezeContext, Freezer, type Frozen } from "../lib/freezer.ts";
import { MacosContainerBackend } from "./macos_container_backend.ts";
import { withTempDir } from "../lib/temp_dir.ts";
import {
  bottleExists,
  cliVersion,
  type ContainerSnapshot,
  findBottle,
  FIRST_EXPORT,
  imageConfig,
  LIVE_EXPORT,
  runConfigOf,
  stateOf,
} from "./_macos_container_cli.ts";

export { MacosContainerBackend };

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
      ...sizeBytes === undefined ? {} : { sizeBytes },
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
