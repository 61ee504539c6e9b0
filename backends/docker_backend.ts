/**
 * The backend of Docker and Docker-compatible engines: runs bottles as
 * containers (`docker run` to start and resume); the engine's wording and
 * hints come from the registry entry. Its freezer is in `docker.ts`.
 *
 * @module
 */

import { semver } from "../lib/_internal/semver.ts";
import { parseOciReference } from "../lib/archive/oci_reference.ts";
import type { Agent } from "../lib/state/agent.ts";
import type { ArtifactImages } from "../lib/archive/artifact_names.ts";
import { BackendError, BackendUnavailableError, BadInputError } from "../lib/errors.ts";
import type {
  BackendOptions,
  BackendProbe,
  BackendSpec,
  BottleStatus,
  InventoryEntry,
} from "../lib/backend.ts";
import type { Engine } from "../lib/registry/registry_schema.ts";
import { ImageBackend } from "./image.ts";

/** How long a prune waits for another prune on the engine to finish. */
export const PRUNE_WAIT_MS = 120_000;

/** How often it asks again meanwhile. */
const PRUNE_RETRY_MS = 200;

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

  /** Whether the engine's words `text` mean `kind` (never, for a kind the entry leaves out). */
  #means(text: string, kind: keyof Engine["errors"]): boolean {
    let pattern = this.#patterns.get(kind);
    if (!pattern) {
      const source = this.engine.errors[kind];
      if (source === undefined) return false;
      this.#patterns.set(kind, pattern = new RegExp(source, "i"));
    }
    return pattern.test(text);
  }

  /**
   * Removes the bottle's untagged snapshot images. Docker runs one prune at a
   * time, engine-wide, and refuses another meanwhile ("a prune operation is
   * already running"), so a prune of another bottle, or the user's own, is
   * waited out (`engine.errors.pruneBusy`), saying so once, up to
   * {@linkcode PRUNE_WAIT_MS}.
   *
   * @param agent The bottle.
   */
  async pruneSnapshots(agent: Agent): Promise<void> {
    const until = Date.now() + PRUNE_WAIT_MS;
    for (let said = false;;) {
      try {
        await this.run("pruneSnapshots", { slug: agent.slug }, agent);
        return;
      } catch (error) {
        if (!this.says(error, "pruneBusy") || Date.now() > until) throw error;
        if (!said) {
          this.log(`another prune is running on ${this.engine.name}; waiting for it to finish`);
          said = true;
        }
        await new Promise((resolve) => setTimeout(resolve, PRUNE_RETRY_MS));
      }
    }
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

  /**
   * The engine's (server's) version, from `docker version --format json`,
   * which fails when the engine is down; output that is not that JSON is
   * read as the default does.
   */
  override async probe(): Promise<BackendProbe> {
    if (!this.commands.has("version")) return { features: [] };
    const { stdout } = await this.run("version", {});
    let version: unknown;
    try {
      version = JSON.parse(stdout)?.Server?.Version;
    } catch {
      // not JSON: read below
    }
    if (typeof version === "string") return { version, features: [] };
    const coerced = (await semver()).coerce(stdout)?.version;
    return { ...coerced === undefined ? {} : { version: coerced }, features: [] };
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
    await this.pruneSnapshots(agent);
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

  /**
   * Keeps a local name as it is: returns the step that puts `name` back on
   * the image it named before (or removes it, when it named none), for a
   * push or pull that passes through it.
   */
  async #holdName(name: string): Promise<() => Promise<void>> {
    const before = await this.#imageId(name);
    return async () => {
      if (before !== undefined) {
        if ((await this.#imageId(name)) !== before) {
          await this.run("tag", { image: before, target: name });
        }
      } else if ((await this.#imageId(name)) !== undefined) {
        await this.run("imageDelete", { image: name });
      }
    };
  }

  /** Runs `work` through the local name `ref`, which is put back as it was afterwards. */
  async #through<T>(ref: string, work: () => Promise<T>): Promise<T> {
    const restore = await this.#holdName(ref);
    try {
      return await this.viaRegistry(parseOciReference(ref, "push"), work);
    } finally {
      await this.cleanup(restore);
    }
  }

  /** Refuses a push or pull the registry entry lacks the templates or wording for. */
  #ready(operation: "push" | "pull"): void {
    const needs = operation === "push" ? ["tag", "push", "companionImage"] : ["pull", "imageSave"];
    if (!this.oci || !needs.every((name) => this.commands.has(name))) {
      throw this.noRegistry(operation);
    }
  }

  /** `docker push`, and the digest it printed. */
  async #push(ref: string, agent?: Agent): Promise<string> {
    const result = await this.run("push", { ref }, agent);
    const digest = this.digestIn(`${result.stdout}\n${result.stderr}`);
    if (!digest) {
      throw this.backendError(
        `"${this.commands.label("push")}" printed no digest for ${ref}; check the registry ` +
          `entry's oci.digest pattern`,
        "push",
        result,
      );
    }
    return digest;
  }

  /** `docker tag` to `ref`, `docker push`, and the tag removed again. */
  override async pushSnapshot(
    agent: Agent,
    artifact: string,
    ref: string,
    _dir: string,
  ): Promise<string> {
    this.#ready("push");
    return await this.#through(ref, async () => {
      await this.run("tag", { image: artifact, target: ref }, agent);
      return await this.#push(ref, agent);
    });
  }

  /** `docker import` of the tar as a one-layer image `ref`, `docker push`, and the image removed. */
  override async pushCompanion(file: string, ref: string, _dir: string): Promise<string> {
    this.#ready("push");
    return await this.#through(ref, async () => {
      await this.run("companionImage", { path: file, ref });
      return await this.#push(ref);
    });
  }

  /** `docker pull` of `ref`, its digest as `docker pull` printed it; the name `ref` put back as it was. */
  protected override async pullImage(
    ref: string,
    adopt: (digest: () => Promise<string | undefined>) => Promise<void>,
  ): Promise<void> {
    this.#ready("pull");
    await this.#through(ref, async () => {
      const result = await this.run("pull", { ref });
      await adopt(() => Promise.resolve(this.digestIn(`${result.stdout}\n${result.stderr}`)));
    });
  }

  /** Three queries: every bottle container, every snapshot image, their sizes. */
  override async inventory(
    bottles: readonly { slug: string; artifact?: string }[],
  ): Promise<Map<string, InventoryEntry>> {
    const states = new Map<string, BottleStatus>();
    for (const line of (await this.run("listAll", {})).stdout.split("\n")) {
      const [name, state] = line.trim().split("\t");
      if (name !== undefined && this.slugOfBottle(name) !== undefined) {
        states.set(name, statusOf(state ?? ""));
      }
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
        const [, tags, size] = line.match(/^(\[.*\]) (\d+)$/) ?? [];
        if (tags === undefined || size === undefined) continue;
        for (const tag of JSON.parse(tags) as string[]) sizes.set(tag, Number(size));
      }
    }
    return new Map(bottles.map((bottle) => {
      const snapshotBytes = bottle.artifact ? sizes.get(bottle.artifact) : undefined;
      return [bottle.slug, {
        state: states.get(this.bottleName(bottle.slug)) ?? "absent",
        snapshotExists: bottle.artifact !== undefined && present.has(bottle.artifact),
        ...snapshotBytes === undefined ? {} : { snapshotBytes },
      }];
    }));
  }

  /** The slugs of the running containers named `bot-bottle-<slug>` (the naming's bottle form). */
  override async runningSlugs(): Promise<string[]> {
    return (await this.run("listAll", {})).stdout.split("\n")
      .map((line) => line.trim().split("\t"))
      .flatMap(([name = "", state = ""]) => {
        const slug = this.slugOfBottle(name);
        return slug !== undefined && statusOf(state) === "running" ? [slug] : [];
      });
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

/** Docker's container states, as bot-bottle reports them. */
function statusOf(state: string): BottleStatus {
  // A paused or restarting container is alive: nothing may remove it unasked.
  if (state === "running" || state === "restarting" || state === "paused") return "running";
  return state === "" ? "absent" : "stopped";
}
