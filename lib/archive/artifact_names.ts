/**
 * What an image artifact says about itself, read while it streams in: the
 * image names and the number of images that `docker load` or `container
 * image load` would bring, from the artifact's own manifests — a `docker
 * save` tar's `manifest.json` (`RepoTags`) and legacy `repositories`, and an
 * OCI image layout's `index.json` (and any small nested index blob), whose
 * descriptors carry `com.apple.containerization.image.name`,
 * `io.containerd.image.name` and `org.opencontainers.image.ref.name` — and
 * the digests of that `index.json`'s descriptors, by which Apple's store
 * knows the image. An import checks these before it loads
 * anything, so that no file can retag an image that is not its bottle's.
 *
 * @module
 */

import { posix } from "node:path";
import { type TarHeader, TarWalk } from "../_internal/tar_walk.ts";

/** The largest naming file read (`manifest.json`, `index.json`, `repositories`, an index blob). */
const MAX_NAMING_BYTES = 1024 * 1024;
/** Blobs up to this size are looked at, in case they are a nested OCI index. */
const MAX_INDEX_BLOB_BYTES = 64 * 1024;

/**
 * The annotations that name an image. Apple's `container image load` reads
 * `com.apple.containerization.image.name` first, then the other two.
 */
/** The files in which an image archive names its images. */
const NAMING_FILES = ["manifest.json", "index.json", "repositories"];

const NAME_ANNOTATIONS = [
  "com.apple.containerization.image.name",
  "io.containerd.image.name",
  "org.opencontainers.image.ref.name",
];
/** The annotation that may hold a bare tag. */
const REF_NAME = "org.opencontainers.image.ref.name";

/** What {@linkcode ArtifactNamesReader} found in an artifact. */
export interface ArtifactImages {
  /** Why the artifact's manifests could not be read, when they could not. */
  problem?: string;
  /** The images it holds: one per `manifest.json` entry or per distinct `index.json` manifest. */
  imageCount: number;
  /** Every image name it carries, as written. */
  names: string[];
  /** Bare tags (`org.opencontainers.image.ref.name` without a repository). */
  bareTags: string[];
  /** The image's config digest (`sha256:…`, Docker's image id), when `manifest.json` names it. */
  configDigest?: string;
  /**
   * The digests of the descriptors in the top-level `index.json`, as written
   * (`sha256:…`), in order, without repeats; empty without an `index.json`.
   * Apple's content-addressed image store lists a loaded index under this very
   * digest, and `container image save` writes it back unchanged.
   */
  indexDigests: string[];
}

/**
 * Reads an artifact as it streams past: hand it every chunk with
 * {@linkcode ArtifactNamesReader.write}, then
 * {@linkcode ArtifactNamesReader.finish}. It walks the tar's headers as each
 * chunk comes and copies only the small naming files, so it keeps no chunk:
 * the caller may free a chunk's buffer as soon as `write` returns. Anything
 * that is not a tar is reported through {@linkcode ArtifactImages.problem},
 * never thrown.
 */
export class ArtifactNamesReader {
  readonly #walk: TarWalk;
  #problem: string | undefined;
  readonly #seen = new Set<string>();
  readonly #docker: { tags: string[]; config?: string }[] = [];
  readonly #indexDigests = new Set<string>();
  readonly #names: string[] = [];
  readonly #bareTags: string[] = [];

  constructor() {
    this.#walk = new TarWalk({
      entry: (header) => this.#entry(header),
      data: (header, bytes) => this.#data(header, bytes),
    });
  }

  /** Takes the next chunk of the artifact; keeps no reference to it. */
  write(chunk: Uint8Array): Promise<void> {
    if (this.#problem !== undefined) return Promise.resolve();
    try {
      this.#walk.write(chunk);
    } catch (error) {
      this.#problem ??= `it is not a readable image archive (${(error as Error).message})`;
    }
    return Promise.resolve();
  }

  /** Ends the artifact and tells what it holds. */
  finish(): Promise<ArtifactImages> {
    const problem = this.#problem ??
      (this.#docker.length === 0 && this.#indexDigests.size === 0 && this.#names.length === 0
        ? "it holds neither a manifest.json nor an index.json, so it is no image archive"
        : undefined);
    return Promise.resolve({
      ...problem === undefined ? {} : { problem },
      imageCount: Math.max(this.#docker.length, this.#indexDigests.size),
      names: this.#names,
      bareTags: this.#bareTags,
      indexDigests: [...this.#indexDigests],
      ...this.#docker.length === 1 && this.#docker[0]?.config
        ? { configDigest: this.#docker[0].config }
        : {},
    });
  }

  /** Ends reading early, e.g. when the outer archive failed (nothing is held). */
  destroy(): void {}

  /** Whether to read an entry: the naming files, and small blobs (a nested index). */
  #entry({ name: raw, type, size }: TarHeader): boolean {
    const name = posix.normalize(raw).replace(/^\/+/, "").replace(/\/+$/, "");
    const naming = NAMING_FILES.includes(name);
    if (naming && this.#seen.has(name)) this.#fail(`it holds ${name} twice`);
    this.#seen.add(name);
    if (naming && type !== "file") {
      this.#fail(`its ${name} is a ${type}, not a regular file`);
    }
    const blob = name.startsWith("blobs/") && type === "file" && size <= MAX_INDEX_BLOB_BYTES;
    if (this.#problem !== undefined || !(naming || blob) || type !== "file") return false;
    if (size > MAX_NAMING_BYTES) {
      this.#fail(`its ${name} is ${size} bytes, over the limit of ${MAX_NAMING_BYTES}`);
      return false;
    }
    return true;
  }

  #data({ name: raw }: TarHeader, bytes: Uint8Array): void {
    const name = posix.normalize(raw).replace(/^\/+/, "").replace(/\/+$/, "");
    const naming = NAMING_FILES.includes(name);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      if (naming) this.#fail(`its ${name} is not JSON (${(error as Error).message})`);
      return;
    }
    if (name === "manifest.json") this.#dockerManifest(value);
    else if (name === "repositories") this.#repositories(value);
    else this.#index(value, name === "index.json");
  }

  #fail(problem: string): void {
    this.#problem ??= problem;
  }

  #dockerManifest(value: unknown): void {
    if (!Array.isArray(value)) return this.#fail("its manifest.json is not a list of images");
    for (const image of value) {
      const tags = (image as { RepoTags?: unknown })?.RepoTags;
      const config = (image as { Config?: unknown })?.Config;
      if (tags !== null && tags !== undefined && !isStrings(tags)) {
        return this.#fail("its manifest.json has RepoTags that are not a list of names");
      }
      const hex = typeof config === "string" ? config.match(/([0-9a-f]{64})(\.json)?$/)?.[1] : "";
      this.#docker.push({ tags: tags ?? [], ...hex ? { config: `sha256:${hex}` } : {} });
      this.#names.push(...tags ?? []);
    }
  }

  #repositories(value: unknown): void {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return this.#fail("its repositories file is not an object");
    }
    for (const [repository, tags] of Object.entries(value)) {
      if (typeof tags !== "object" || tags === null) continue;
      for (const tag of Object.keys(tags)) this.#names.push(`${repository}:${tag}`);
    }
  }

  /** `index.json`, or a blob that may be a nested index: the names of its manifests. */
  #index(value: unknown, top: boolean): void {
    const manifests = (value as { manifests?: unknown })?.manifests;
    if (!Array.isArray(manifests)) {
      if (top) this.#fail("its index.json lists no manifests");
      return;
    }
    for (const descriptor of manifests) {
      const digest = (descriptor as { digest?: unknown })?.digest;
      if (top) this.#indexDigests.add(typeof digest === "string" ? digest : String(digest));
      const annotations = (descriptor as { annotations?: unknown })?.annotations;
      if (typeof annotations !== "object" || annotations === null) continue;
      for (const key of NAME_ANNOTATIONS) {
        const name = (annotations as Record<string, unknown>)[key];
        if (typeof name !== "string") continue;
        // A ref.name may be a bare tag; load then names the image after the other annotation.
        if (key === REF_NAME && !/[:/@]/.test(name)) this.#bareTags.push(name);
        else this.#names.push(name);
      }
    }
  }
}

/**
 * A reference in the form engines compare: `docker.io/library/x:latest` for `x`.
 *
 * @param reference An image reference, e.g. `bot-bottle-committed-dev:latest`.
 * @returns The full reference.
 */
export function fullReference(reference: string): string {
  const slash = reference.indexOf("/");
  const first = slash === -1 ? "" : reference.slice(0, slash);
  const registry = first !== "" && (/[.:]/.test(first) || first === "localhost");
  let domain = registry ? first : "docker.io";
  let path = registry ? reference.slice(slash + 1) : reference;
  if (domain === "index.docker.io") domain = "docker.io";
  if (domain === "docker.io" && !path.includes("/")) path = `library/${path}`;
  if (!path.includes("@") && !/:[^/]*$/.test(path)) path = `${path}:latest`;
  return `${domain}/${path}`;
}

/**
 * Why an artifact may not be loaded as the image `expected`: when it holds
 * other than one image, or names anything but `expected`.
 *
 * @param images What {@linkcode ArtifactNamesReader} found.
 * @param expected The one name it may carry, e.g. `bot-bottle-committed-dev:20261124T141500Z`.
 * @returns The problem, or `undefined` when it may be loaded.
 */
export function artifactNameProblem(images: ArtifactImages, expected: string): string | undefined {
  if (images.problem !== undefined) return images.problem;
  if (images.imageCount !== 1) {
    return `its artifact holds ${images.imageCount} images, and a snapshot is one`;
  }
  const want = fullReference(expected);
  const foreign = [...new Set(images.names)].filter((name) => fullReference(name) !== want);
  const tag = expected.slice(expected.lastIndexOf(":") + 1);
  foreign.push(...new Set(images.bareTags.filter((each) => each !== tag)));
  if (foreign.length > 0) {
    return `its artifact would name the image${foreign.length === 1 ? "" : "s"} ${
      foreign.map((name) => JSON.stringify(name)).join(", ")
    }, and an import may name only the snapshot's own image "${expected}"`;
  }
  if (images.names.length === 0) {
    return `its artifact names no image, where it should name "${expected}"`;
  }
  return undefined;
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((each) => typeof each === "string");
}
