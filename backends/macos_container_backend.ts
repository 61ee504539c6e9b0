/**
 * The Apple `container` backend: runs bottles as Apple `container`
 * containers. Its freezer is in `macos_container.ts`.
 *
 * @module
 */

import { join } from "node:path";
import * as v from "valibot";
import { type OciReference, parseOciReference } from "../lib/archive/oci_reference.ts";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/state/agent.ts";
import { BackendError, BackendUnavailableError, BadInputError } from "../lib/errors.ts";
import { semver } from "../lib/_internal/semver.ts";
import {
  type BackendProbe,
  type BottleStatus,
  type InventoryEntry,
  type StartSpec,
} from "../lib/backend.ts";
import { ImageBackend } from "./image.ts";
import type { ArtifactImages } from "../lib/archive/artifact_names.ts";
import {
  cliVersion,
  FIRST_EXPORT,
  listBottles,
  ListedImage,
  LIVE_EXPORT,
  normalise,
  stateOf,
  statusOf,
} from "./_macos_container_cli.ts";

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

  /**
   * The CLI's version and what it can snapshot (`export` from 0.10.0, `live
   * export` from 1.2.1); `container list` tells whether the service is up.
   */
  override async probe(): Promise<BackendProbe> {
    const version = await cliVersion(this);
    await listBottles(this);
    if (version === undefined) return { features: [] };
    const { gte } = await semver();
    const features = [
      ...gte(version, FIRST_EXPORT) ? ["export"] : [],
      ...gte(version, LIVE_EXPORT) ? ["live export"] : [],
    ];
    return {
      version,
      features,
      ...features.length === 0
        ? { problem: `container ${version} cannot snapshot; upgrade to ${LIVE_EXPORT} or later` }
        : {},
    };
  }

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

  /**
   * `bot-bottle-<slug>` (the naming's bottle form) must fit Apple's 63
   * characters, or `container run` fails later; the room for the slug is what
   * the form leaves.
   */
  #checkName(slug: string): void {
    const name = this.bottleName(slug);
    if (name.length <= NAME_LIMIT) return;
    const room = NAME_LIMIT - (name.length - slug.length);
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

  /** Refuses a push or pull the registry entry lacks the templates or wording for. */
  #ready(operation: "push" | "pull"): void {
    const needs = operation === "push"
      ? ["tag", "push", "imageLoad", "imageDelete", "imageList"]
      : ["pull", "tag", "imageSave", "imageDelete", "imageList"];
    if (!this.oci || !needs.every((name) => this.commands.has(name))) {
      throw this.noRegistry(operation);
    }
  }

  /**
   * `--scheme=http` for a loopback registry, which serves plain HTTP (from
   * 1.3.0 the default scheme is https; before, `auto` chose http there too).
   */
  #scheme(ref: OciReference): string[] {
    const bare = ref.host.replace(/:\d+$/, "");
    return bare === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(bare) ? ["--scheme=http"] : [];
  }

  /** Refuses a name the image store has: a pull through it would replace that image. */
  async #absent(ref: string): Promise<void> {
    if (await this.snapshotExists(ref)) {
      throw new BadInputError(
        `the name ${ref} is already in the container image store, and going through the ` +
          `registry would replace it; remove it (container image delete ${ref}) or use another ` +
          `tag; nothing was changed`,
      );
    }
  }

  /** Runs `work` through the new store name `ref`, deleted again afterwards. */
  async #through<T>(ref: string, work: (parsed: OciReference) => Promise<T>): Promise<T> {
    const parsed = parseOciReference(ref, "push");
    try {
      return await this.viaRegistry(parsed, () => work(parsed));
    } finally {
      await this.cleanup(async () => {
        if (await this.snapshotExists(ref)) await this.run("imageDelete", { image: ref });
      });
    }
  }

  /** The digest `container image list` shows for `ref` (`image push` prints none). */
  async #digest(ref: string, command: string): Promise<string> {
    const digest = (await this.#images()).get(normalise(ref));
    if (!digest) {
      throw this.backendError(`container image list shows no digest for ${ref}`, command);
    }
    return digest;
  }

  /** `container image tag` to `ref`, `image push`, its digest from `image list`; the tag deleted. */
  override async pushSnapshot(
    agent: Agent,
    artifact: string,
    ref: string,
    _dir: string,
  ): Promise<string> {
    this.#ready("push");
    await this.#absent(ref);
    return await this.#through(ref, async (parsed) => {
      await this.run("tag", { image: artifact, target: ref }, agent);
      await this.run("push", { scheme: this.#scheme(parsed), ref }, agent);
      return await this.#digest(ref, "push");
    });
  }

  /** The tar as a one-layer OCI image `ref` (`image load`), `image push`; the image deleted. */
  override async pushCompanion(file: string, ref: string, dir: string): Promise<string> {
    this.#ready("push");
    await this.#absent(ref);
    const archive = join(dir, "companion.oci.tar");
    // Loaded here, as for a snapshot: node:crypto costs every other command tens of ms.
    const { writeOciImageArchive } = await import("../lib/archive/oci_image_layout.ts");
    await writeOciImageArchive(join(dir, "companion-layout"), {
      references: [ref],
      layer: file,
      config: { Labels: { "bot-bottle.companion": "1" } },
      platform: { os: "linux", architecture: Deno.build.arch === "aarch64" ? "arm64" : "amd64" },
    }, archive);
    return await this.#through(ref, async (parsed) => {
      await this.run("imageLoad", { path: archive });
      await this.run("push", { scheme: this.#scheme(parsed), ref });
      return await this.#digest(ref, "push");
    });
  }

  /** `container image pull` of `ref`, its digest from `image list`; `ref` deleted again. */
  protected override async pullImage(
    ref: string,
    adopt: (digest: () => Promise<string | undefined>) => Promise<void>,
  ): Promise<void> {
    this.#ready("pull");
    await this.#absent(ref);
    await this.#through(ref, async (parsed) => {
      await this.run("pull", { scheme: this.#scheme(parsed), ref });
      await adopt(() => this.#digest(ref, "pull"));
    });
  }

  /** Every image in the `container` image store. */
  protected override async imageReferences(): Promise<string[]> {
    return [...(await this.#images()).keys()];
  }

  /** The slugs of the running containers named `bot-bottle-<slug>` (the naming's bottle form). */
  override async runningSlugs(): Promise<string[]> {
    return (await listBottles(this)).flatMap((bottle) => {
      const slug = this.slugOfBottle(bottle.configuration.id);
      return stateOf(bottle) === "running" && slug !== undefined ? [slug] : [];
    });
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
