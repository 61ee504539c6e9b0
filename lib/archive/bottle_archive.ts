/**
 * The bottle archive: the one portable file that `bot-bottle export` writes
 * and `bot-bottle import` reads. It is a tar, compressed with zstd (the
 * default), gzip or not at all, holding, flat (no directories):
 *
 * 1. `manifest.json`, always the first entry, so a reader checks the format
 *    before it reads anything else;
 * 2. `metadata.json`, the bottle's metadata as it was;
 * 3. `run-config.json`, when the bottle has one;
 * 4. the artifact, one file named by the manifest (e.g. `artifact.docker.tar`).
 *
 * Both directions stream with backpressure from end to end (file →
 * decompressor → tar parser → hash → file, and back), so memory stays the
 * same whatever the size and however well the data compresses: a gigabyte of
 * zeros, which gunzip inflates a thousandfold, waits in no queue. The small
 * JSON members are capped at {@linkcode MAX_JSON_MEMBER_BYTES}.
 *
 * Format 1 was always gzip. Format 2 is format 1 with the compression left to
 * the writer; the reader tells it by the file's first bytes.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { PassThrough, type Readable, type Transform } from "node:stream";
import {
  constants as zlibConstants,
  createGunzip,
  createGzip,
  createZstdCompress,
  createZstdDecompress,
} from "node:zlib";
import { type Extract, extract as tarExtract, type Pack, pack as tarPack } from "tar-stream";
import * as v from "valibot";
import type { Compression } from "./archive_compression.ts";
import { type ArtifactImages, ArtifactNamesReader } from "./artifact_names.ts";
import { BadInputError } from "../errors.ts";
import { describeIssues } from "../registry/schema_issues.ts";
import { isSlug } from "../state/slug.ts";

/**
 * The archive format this bot-bottle writes: 2, or 1 when asked for gzip (a
 * format-1 archive is exactly a gzip-compressed format-2 one, and bot-bottle
 * 0.1 reads it).
 */
export const ARCHIVE_FORMAT_VERSION = 2;

/** The archive formats this bot-bottle reads: 1 (gzip only) and 2 (zstd, gzip or none). */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

export { type Compression, COMPRESSIONS } from "./archive_compression.ts";

/** The largest `manifest.json`, `metadata.json` or `run-config.json` accepted: 1 MiB. */
export const MAX_JSON_MEMBER_BYTES = 1024 * 1024;

const MANIFEST = "manifest.json";
const METADATA = "metadata.json";
const RUN_CONFIG = "run-config.json";
const RESERVED_NAMES: readonly string[] = [MANIFEST, METADATA, RUN_CONFIG];

// Chunk sizes: a chunk of the artifact when writing, of the archive when
// reading, and of a (de)compressor's output. Memory is bounded by the streams'
// backpressure, not by these; they only set how many calls a gigabyte costs.
const CHUNK_BYTES = 256 * 1024;
const READ_CHUNK_BYTES = 256 * 1024;
const ZLIB_CHUNK_BYTES = 256 * 1024;

/** What `manifest.json` says: the format, the bottle, the snapshot and the artifact. */
export interface ArchiveManifest {
  /** The archive format, {@linkcode ARCHIVE_FORMAT_VERSION} when written by this bot-bottle. */
  formatVersion: number;
  /** The bottle's slug. */
  slug: string;
  /** The registry name of the backend that made the artifact, e.g. `"docker"`. */
  backend: string;
  /** The snapshot the artifact holds. */
  snapshot: {
    /** Its id, e.g. `20261124T141500Z`. */
    id: string;
    /** When it was made, ISO 8601. */
    createdAt: string;
    /** The snapshot it was resumed from, if any. */
    parent: string | null;
    /** The user's note, if any. */
    message: string | null;
  };
  /** The snapshot ids of its lineage, oldest first, ending with `snapshot.id`. */
  lineage: string[];
  /** The bot-bottle version that wrote the archive. */
  toolVersion: string;
  /** When the archive was written, ISO 8601. */
  createdAt: string;
  /** The artifact member: its entry name, SHA-256 (lower-case hex) and size. */
  artifact: { name: string; sha256: string; sizeBytes: number };
  /** Whether the archive holds `run-config.json`. */
  hasRunConfig: boolean;
  /**
   * The exporting machine (`Deno.build.os` and `.arch`): a smolvm snapshot
   * runs only on the CPU architecture it was packed on.
   */
  platform?: { os: string; arch: string };
}

/** What {@linkcode writeBottleArchive} writes. */
export interface WriteArchiveInput {
  /** The manifest, less what the writer fills in itself. */
  manifest: Omit<ArchiveManifest, "formatVersion" | "artifact" | "hasRunConfig" | "createdAt">;
  /** The bottle's `metadata.json`, as it is (JSON, at most 1 MiB). */
  metadataJson: string;
  /** The bottle's `run-config.json`, as it is (JSON, at most 1 MiB), when it has one. */
  runConfigJson?: string;
  /** The artifact file to archive. It is read twice (hashed, then copied) and never changed. */
  artifactPath: string;
  /**
   * The artifact's name in the archive: a plain file name such as
   * `artifact.docker.tar` (letters, digits, `.`, `_`, `-`; not starting with
   * `.` or `-`; at most 100 characters).
   */
  artifactName: string;
  /** Called as artifact bytes are written, with the bytes done and the artifact's size. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Aborting it stops the write, removes the temporary file and throws its reason. */
  signal?: AbortSignal;
  /** How to compress the archive (default: `"zstd"`). */
  compression?: Compression;
}

/** What {@linkcode readBottleArchive} found, all of it checked against the manifest. */
export interface ReadArchive {
  /** The validated manifest. */
  manifest: ArchiveManifest;
  /** The text of `metadata.json`, as it was archived. */
  metadataJson: string;
  /** The text of `run-config.json`, when the archive holds one. */
  runConfigJson?: string;
  /** Where the artifact was written: `<into>/<manifest.artifact.name>`. */
  artifactPath: string;
  /** What the artifact's own manifests name, read in the same pass (see `artifact_names.ts`). */
  artifactImages: ArtifactImages;
}

const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ARTIFACT_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;

const SnapshotIdSchema = v.pipe(
  v.string(),
  v.regex(SNAPSHOT_ID, "must be a snapshot id such as 20261124T141500Z"),
);

const ArtifactNameSchema = v.pipe(
  v.string(),
  v.regex(
    ARTIFACT_NAME,
    "must be a plain file name of letters, digits, '.', '_' and '-', not starting with " +
      "'.' or '-', at most 100 characters",
  ),
  v.check((name) => !name.includes(".."), "must not contain '..'"),
  v.check((name) => !RESERVED_NAMES.includes(name), "must not be a name the archive reserves"),
);

const NonEmpty = v.pipe(v.string(), v.nonEmpty("must not be empty"));

const ManifestSchema = v.pipe(
  v.object({
    formatVersion: v.picklist(
      READABLE_FORMAT_VERSIONS,
      `must be one of ${READABLE_FORMAT_VERSIONS.join(", ")}`,
    ),
    slug: v.pipe(v.string(), v.check(isSlug, "must be a bottle slug such as dev-abc12")),
    backend: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9_-]*$/, "must be a backend name")),
    snapshot: v.object({
      id: SnapshotIdSchema,
      createdAt: NonEmpty,
      parent: v.nullable(SnapshotIdSchema),
      message: v.nullable(v.string()),
    }),
    lineage: v.pipe(v.array(SnapshotIdSchema), v.minLength(1, "must not be empty")),
    toolVersion: NonEmpty,
    createdAt: v.pipe(v.string(), v.isoTimestamp("must be an ISO 8601 time")),
    artifact: v.object({
      name: ArtifactNameSchema,
      sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits")),
      sizeBytes: v.pipe(
        v.number(),
        v.safeInteger("must be a whole number"),
        v.minValue(0, "must not be negative"),
      ),
    }),
    hasRunConfig: v.boolean(),
    platform: v.optional(v.object({ os: NonEmpty, arch: NonEmpty })),
  }),
  v.forward(
    v.check(
      (manifest) => manifest.lineage.at(-1) === manifest.snapshot.id,
      "must end with snapshot.id",
    ),
    ["lineage"],
  ),
);

/**
 * Writes a bottle archive to `out`: hashes the artifact, then streams the tar
 * through the compressor (zstd unless `input.compression` says otherwise)
 * into a private (0600) temporary file beside `out`, flushes it and moves it
 * to `out`. A failure or an interrupt leaves no `out` and no temporary file;
 * `out` is never overwritten.
 *
 * @param out The archive to create. It must not exist.
 * @param input The manifest fields, the JSON members and the artifact.
 * @returns The manifest written as `manifest.json`.
 * @throws {BadInputError} When `out` exists, the artifact is missing or
 * changes while it is archived, a JSON member is not JSON or is over 1 MiB, or
 * a manifest field is invalid (e.g. the slug).
 * @throws {Error} The signal's reason when `input.signal` is aborted, or the
 * file system's error when writing fails.
 *
 * @example Export a snapshot
 * ```ts ignore
 * import { writeBottleArchive } from "./bottle_archive.ts";
 *
 * const manifest = await writeBottleArchive("dev-abc12.bottle", {
 *   manifest: {
 *     slug: "dev-abc12",
 *     backend: "docker",
 *     snapshot: { id: "20261124T141500Z", createdAt: "2026-11-24T14:15:00Z", parent: null, message: null },
 *     lineage: ["20261124T141500Z"],
 *     toolVersion: "0.1.0",
 *   },
 *   metadataJson: await Deno.readTextFile("metadata.json"),
 *   artifactPath: "/tmp/image.tar",
 *   artifactName: "artifact.docker.tar",
 * });
 * console.log(manifest.artifact.sha256);
 * ```
 */
export async function writeBottleArchive(
  out: string,
  input: WriteArchiveInput,
): Promise<ArchiveManifest> {
  const { signal } = input;
  signal?.throwIfAborted();
  await refuseExisting(out);
  const metadata = encodeJsonMember(METADATA, input.metadataJson);
  const runConfig = input.runConfigJson === undefined
    ? undefined
    : encodeJsonMember(RUN_CONFIG, input.runConfigJson);

  // lstat: an artifact that is a symbolic link (a snapshot file in a state directory that
  // someone replaced) is refused, never followed into whatever it points to.
  const info = await Deno.lstat(input.artifactPath).catch((error) => {
    throw new BadInputError(
      `cannot read the artifact ${input.artifactPath} to archive (${error.message}); ` +
        `nothing was written`,
      { cause: error },
    );
  });
  if (!info.isFile) {
    throw new BadInputError(
      `the artifact ${input.artifactPath} is not a regular file` +
        `${info.isSymlink ? " (it is a symbolic link, which bot-bottle does not follow)" : ""}; ` +
        `nothing was written`,
    );
  }
  // Checked before the (long) hashing, with the digest filled in after it.
  const manifest = checkManifest({
    ...input.manifest,
    formatVersion: (input.compression ?? "zstd") === "gzip" ? 1 : ARCHIVE_FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    artifact: { name: input.artifactName, sha256: "0".repeat(64), sizeBytes: info.size },
    hasRunConfig: runConfig !== undefined,
  });
  manifest.artifact.sha256 = await hashFile(input.artifactPath, signal);
  signal?.throwIfAborted();

  const temp = join(dirname(out), `.${basename(out)}.tmp-${crypto.randomUUID().slice(0, 8)}`);
  try {
    {
      using file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 }).catch(
        (error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
          throw new BadInputError(
            `cannot write ${out}: the directory ${dirname(out)} does not exist; create it or ` +
              `pass another -o`,
            { cause: error },
          );
        },
      );
      const members = [
        { name: MANIFEST, bytes: new TextEncoder().encode(JSON.stringify(manifest, null, 2)) },
        { name: METADATA, bytes: metadata },
        ...(runConfig ? [{ name: RUN_CONFIG, bytes: runConfig }] : []),
      ];
      await writeTar(file, members, manifest, input);
      await file.sync();
    }
    signal?.throwIfAborted();
    await publish(temp, out);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  return manifest;
}

/**
 * Reads the bottle archive `file` (zstd, gzip or plain, told by its first
 * bytes): streams it through the decompressor and a tar parser, checks every
 * member against the manifest, and writes the artifact into `into` while
 * hashing it. On any refusal nothing is left in `into`.
 *
 * @param file The archive.
 * @param into A private directory, made by the caller, for the artifact.
 * @param onProgress Called as artifact bytes are written, with the bytes done
 * and the artifact's size.
 * @param signal Aborting it stops the read, removes the artifact and throws
 * its reason.
 * @returns The manifest, the JSON members' text and the artifact's path.
 * @throws {BadInputError} When `file` is missing, not an archive, corrupt or
 * truncated; when its first entry is not a valid `manifest.json` of a format
 * this bot-bottle reads; when an entry is not a regular file, has an unsafe
 * or unexpected name, or is duplicated; when a member is missing or over
 * 1 MiB; or when the artifact's size or SHA-256 does not match the manifest.
 * @throws {Error} The signal's reason when `signal` is aborted, or the file
 * system's error when writing into `into` fails.
 *
 * @example Import a snapshot
 * ```ts ignore
 * import { readBottleArchive } from "./bottle_archive.ts";
 * import { withTempDir } from "../temp_dir.ts";
 *
 * await withTempDir(async (dir) => {
 *   const archive = await readBottleArchive("dev-abc12.bottle", dir);
 *   console.log(archive.manifest.slug, archive.artifactPath);
 * });
 * ```
 */
export async function readBottleArchive(
  file: string,
  into: string,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
  signal?: AbortSignal,
): Promise<ReadArchive> {
  signal?.throwIfAborted();
  const refuse = (problem: string, cause?: unknown) =>
    new BadInputError(
      `${file} is not a usable bot-bottle archive: ${problem}; ` +
        `export the bottle again with "bot-bottle export"`,
      cause === undefined ? undefined : { cause },
    );
  // The one pipeline: file → decompressor → tar parser → (per entry) hash → file. Each
  // stage waits for the next, so nothing piles up between them. Another consumer of the
  // artifact's bytes attaches where they are hashed, below.
  const { handle, compression } = await openArchive(file);
  const decompressor = decompressorFor(compression);
  decompressor.on("error", () => {}); // reaches the feeding, which reports it
  const pumping = pump(handle, decompressor);
  const extract = tarExtract();
  const tail = new TarTail();
  const feeding = feed(
    decompressor,
    extract,
    tail,
    (error) =>
      refuse(
        `its compressed data is truncated or corrupt (${(error as Error).message ?? error})`,
        error,
      ),
  );
  // Errors from the parser mean the archive is damaged; errors from writing
  // into `into` are the file system's, and pass through.
  const damaged = (error: unknown) => {
    if (error instanceof BadInputError) return error;
    const message = (error as Error)?.message ?? String(error);
    const cutShort = message === "Unexpected end of data" ||
      (tail.ended && !tail.complete() && !message.startsWith("Invalid tar header"));
    return cutShort
      ? refuse("it ends in the middle of its tar data, so it is truncated", error)
      : refuse(`its tar data is corrupt (${message})`, error);
  };
  const abort = () => extract.destroy(signal?.reason);
  signal?.addEventListener("abort", abort, { once: true });

  let artifactPath: string | undefined;
  let artifactImages: ArtifactImages | undefined;
  const names = new ArtifactNamesReader();
  try {
    const entries = extract[Symbol.asyncIterator]();
    const seen = new Set<string>();
    let manifest: ArchiveManifest | undefined;
    let metadataJson: string | undefined;
    let runConfigJson: string | undefined;
    for (;;) {
      const step = await entries.next().catch((error) => {
        throw signal?.aborted ? signal.reason : damaged(error);
      });
      if (step.done) break;
      const entry = step.value;
      const { name, type, size } = entry.header;
      const problem = nameProblem(name);
      if (problem) throw refuse(`it has an entry named ${JSON.stringify(name)}, ${problem}`);
      if (type !== "file") {
        throw refuse(
          `its entry ${JSON.stringify(name)} is a ${type ?? "special file"}, and an archive ` +
            `holds only regular files`,
        );
      }
      if (seen.has(name)) throw refuse(`it has the entry ${JSON.stringify(name)} twice`);
      seen.add(name);

      if (manifest === undefined) {
        if (name !== MANIFEST) {
          throw refuse(
            `its first entry is ${JSON.stringify(name)}, not "${MANIFEST}", so it was not ` +
              `written by bot-bottle`,
          );
        }
        manifest = parseManifest(
          file,
          await readJsonMember(entry, name, size, refuse, damaged),
          refuse,
        );
      } else if (name === METADATA) {
        metadataJson = await readJsonMember(entry, name, size, refuse, damaged);
      } else if (name === RUN_CONFIG && manifest.hasRunConfig) {
        runConfigJson = await readJsonMember(entry, name, size, refuse, damaged);
      } else if (name === manifest.artifact.name) {
        const { sizeBytes, sha256 } = manifest.artifact;
        if (size !== sizeBytes) {
          throw refuse(
            `its artifact ${JSON.stringify(name)} is ${size} bytes, but the manifest says ` +
              `${sizeBytes}`,
          );
        }
        const path = join(into, name);
        using out = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
        artifactPath = path;
        const hash = createHash("sha256");
        let done = 0;
        onProgress?.(0, sizeBytes);
        for await (const chunk of entryChunks(entry, damaged)) {
          hash.update(chunk);
          await Promise.all([writeAll(out, chunk), names.write(chunk)]);
          done += chunk.byteLength;
          onProgress?.(done, sizeBytes);
          // A chunk that ends its buffer is the last the tar parser takes from it: free the
          // buffer now, not at the next garbage collection, which V8 puts off for some 64 MiB
          // of them. (Another consumer of these bytes must copy what it keeps.)
          releaseFilled(chunk);
        }
        artifactImages = await names.finish();
        const digest = hash.digest("hex");
        if (digest !== sha256) {
          throw refuse(
            `its artifact ${JSON.stringify(name)} has SHA-256 ${digest}, but the manifest says ` +
              `${sha256}, so it was damaged or altered`,
          );
        }
      } else {
        throw refuse(
          `it has an unexpected entry ${JSON.stringify(name)}; expected ${
            expectedNames(manifest).map((expected) => JSON.stringify(expected)).join(", ")
          }`,
        );
      }
    }

    // zstd reads a cut-off frame as a shorter stream, without an error: a tar must end
    // with its end-of-archive blocks.
    if (!tail.complete()) {
      throw refuse("it ends in the middle of its tar data, so it is truncated");
    }
    if (manifest === undefined) throw refuse(`it has no entries, not even "${MANIFEST}"`);
    const missing = expectedNames(manifest).filter((name) => !seen.has(name));
    if (missing.length > 0) {
      throw refuse(
        `it lacks ${missing.map((name) => JSON.stringify(name)).join(", ")}, which ` +
          `its manifest promises`,
      );
    }
    signal?.throwIfAborted();
    return {
      manifest,
      metadataJson: metadataJson!,
      ...(runConfigJson === undefined ? {} : { runConfigJson }),
      artifactPath: artifactPath!,
      artifactImages: artifactImages!,
    };
  } catch (error) {
    names.destroy();
    extract.destroy(); // stops the feeding, which stops the pumping and closes the file
    await Promise.all([feeding, pumping]);
    if (artifactPath !== undefined) await Deno.remove(artifactPath).catch(() => {});
    throw signal?.aborted ? signal.reason : error;
  } finally {
    signal?.removeEventListener("abort", abort);
    await Promise.all([feeding, pumping]);
  }
}

function expectedNames(manifest: ArchiveManifest): string[] {
  return [
    MANIFEST,
    METADATA,
    ...(manifest.hasRunConfig ? [RUN_CONFIG] : []),
    manifest.artifact.name,
  ];
}

function nameProblem(name: string): string | undefined {
  if (name.includes("\0")) return "which holds a NUL character";
  if (name.includes("/") || name.includes("\\")) return "a path, where only flat names belong";
  if (name.includes("..")) return "which holds '..'";
  if (name.startsWith("-")) return "which starts with '-'";
  if (name === "" || name === ".") return "which is not a file name";
  return undefined;
}

function checkManifest(manifest: unknown): ArchiveManifest {
  const result = v.safeParse(ManifestSchema, manifest);
  if (result.success) return result.output;
  throw new BadInputError(
    `cannot write the archive: its manifest is invalid (${
      describeIssues(result.issues).join("; ")
    }); nothing was written`,
  );
}

function parseManifest(
  file: string,
  text: string,
  refuse: (problem: string, cause?: unknown) => BadInputError,
): ArchiveManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw refuse(`its ${MANIFEST} is not JSON (${(error as Error).message})`, error);
  }
  const version = (value as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === "number" && !READABLE_FORMAT_VERSIONS.includes(version)) {
    throw new BadInputError(
      `${file} is an archive of format ${version}, but this bot-bottle reads only formats ` +
        `${READABLE_FORMAT_VERSIONS.join(" and ")}; it was probably written by a newer ` +
        `bot-bottle, so upgrade bot-bottle to import it`,
    );
  }
  const result = v.safeParse(ManifestSchema, value);
  if (result.success) return result.output;
  throw refuse(`its ${MANIFEST} is invalid (${describeIssues(result.issues).join("; ")})`);
}

function encodeJsonMember(name: string, text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.byteLength > MAX_JSON_MEMBER_BYTES) {
    throw new BadInputError(
      `cannot archive ${name}: it is ${bytes.byteLength} bytes, over the limit of ` +
        `${MAX_JSON_MEMBER_BYTES}; nothing was written`,
    );
  }
  try {
    JSON.parse(text);
  } catch (error) {
    throw new BadInputError(
      `cannot archive ${name}: it is not JSON (${(error as Error).message}); nothing was written`,
      { cause: error },
    );
  }
  return bytes;
}

async function readJsonMember(
  entry: AsyncIterable<unknown>,
  name: string,
  size: number,
  refuse: (problem: string, cause?: unknown) => BadInputError,
  damaged: (error: unknown) => BadInputError,
): Promise<string> {
  if (size > MAX_JSON_MEMBER_BYTES) {
    throw refuse(
      `its ${name} is ${size} bytes, over the limit of ${MAX_JSON_MEMBER_BYTES}`,
    );
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of entryChunks(entry, damaged)) chunks.push(chunk);
  const text = (() => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(concat(chunks));
    } catch (error) {
      throw refuse(`its ${name} is not UTF-8 text`, error);
    }
  })();
  if (name !== MANIFEST) {
    try {
      JSON.parse(text);
    } catch (error) {
      throw refuse(`its ${name} is not JSON (${(error as Error).message})`, error);
    }
  }
  return text;
}

async function* entryChunks(
  entry: AsyncIterable<unknown>,
  damaged: (error: unknown) => BadInputError,
): AsyncGenerator<Uint8Array> {
  const chunks = entry[Symbol.asyncIterator]();
  for (;;) {
    let step: IteratorResult<unknown>;
    try {
      step = await chunks.next();
    } catch (error) {
      throw damaged(error);
    }
    if (step.done) return;
    yield step.value as Uint8Array;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

async function refuseExisting(out: string): Promise<void> {
  const exists = await Deno.lstat(out).then(() => true, (error) => {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  });
  if (exists) {
    throw new BadInputError(
      `${out} already exists and an export never overwrites a file; pass another -o or ` +
        `remove it first`,
    );
  }
}

/** Moves the finished temporary file to `out` without ever replacing an `out` made meanwhile. */
async function publish(temp: string, out: string): Promise<void> {
  try {
    await Deno.link(temp, out);
  } catch (error) {
    await refuseExisting(out); // someone made it meanwhile
    if (error instanceof Deno.errors.AlreadyExists) throw error;
    await Deno.rename(temp, out); // a file system without hard links
    return;
  }
  await Deno.remove(temp).catch(() => {});
}

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC = [0x1f, 0x8b];
// A plain archive starts with the tar header of its first entry, named manifest.json.
const TAR_MAGIC = [...new TextEncoder().encode(MANIFEST), 0];

/** Opens `file` and tells its compression by its first bytes. */
async function openArchive(
  file: string,
): Promise<{ handle: Deno.FsFile; compression: Compression }> {
  const handle = await Deno.open(file).catch((error) => {
    throw new BadInputError(
      error instanceof Deno.errors.NotFound
        ? `cannot read the archive ${file}: it does not exist; check the path of the .bottle file`
        : `cannot read the archive ${file} (${error.message}); check its permissions`,
      { cause: error },
    );
  });
  try {
    if (!(await handle.stat()).isFile) {
      throw new BadInputError(
        `${file} is not a regular file, so it is not a bot-bottle archive; pass the .bottle ` +
          `file that "bot-bottle export" wrote`,
      );
    }
    const magic = new Uint8Array(TAR_MAGIC.length);
    let got = 0;
    while (got < magic.length) {
      const n = await handle.read(magic.subarray(got));
      if (n === null) break;
      got += n;
    }
    const startsWith = (bytes: number[]) =>
      got >= bytes.length && bytes.every((byte, i) => magic[i] === byte);
    const compression: Compression | undefined = startsWith(ZSTD_MAGIC)
      ? "zstd"
      : startsWith(GZIP_MAGIC)
      ? "gzip"
      : startsWith(TAR_MAGIC)
      ? "none"
      : undefined;
    if (compression === undefined) {
      throw new BadInputError(
        `${file} is not a bot-bottle archive: it is neither zstd- nor gzip-compressed, nor a ` +
          `tar starting with ${MANIFEST}; pass a file made by "bot-bottle export"`,
      );
    }
    await handle.seek(0, Deno.SeekMode.Start);
    return { handle, compression };
  } catch (error) {
    handle.close();
    throw error;
  }
}

function decompressorFor(compression: Compression): Transform {
  switch (compression) {
    case "zstd":
      return createZstdDecompress({ chunkSize: ZLIB_CHUNK_BYTES });
    case "gzip":
      return createGunzip({ chunkSize: ZLIB_CHUNK_BYTES });
    case "none":
      return new PassThrough({ highWaterMark: ZLIB_CHUNK_BYTES });
  }
}

function compressorFor(compression: Compression): Transform {
  switch (compression) {
    case "zstd":
      // Level 3 (zstd's default): several times gzip's speed at a better ratio. The
      // frame's checksum lets the reader tell damage from data, as gzip's CRC does.
      return createZstdCompress({
        chunkSize: ZLIB_CHUNK_BYTES,
        params: {
          [zlibConstants.ZSTD_c_compressionLevel]: 3,
          [zlibConstants.ZSTD_c_checksumFlag]: 1,
        },
      });
    case "gzip":
      return createGzip({ chunkSize: ZLIB_CHUNK_BYTES });
    case "none":
      return new PassThrough({ highWaterMark: ZLIB_CHUNK_BYTES });
  }
}

/**
 * Writes `file` into `sink`, waiting whenever the sink is full, then ends it
 * and closes the file. Never rejects: a failure destroys `sink`, whose reader
 * then sees it.
 */
async function pump(file: Deno.FsFile, sink: Transform): Promise<void> {
  const passThrough = sink instanceof PassThrough;
  try {
    for (;;) {
      // A new buffer each time: the sink may hold on to it until it has consumed it.
      const buffer = new Uint8Array(READ_CHUNK_BYTES);
      const n = await file.read(buffer);
      if (n === null) break;
      if (sink.destroyed) return;
      if (passThrough) {
        // It hands the buffer itself on: the reader of the artifact frees it.
        if (!sink.write(buffer.subarray(0, n))) await nodeDrained(sink);
      } else {
        // A decompressor calls back once it has consumed the buffer, and only as fast as
        // its output is read.
        await consumed(sink, buffer.subarray(0, n));
        release(buffer);
      }
    }
    sink.end();
  } catch (error) {
    if (!sink.destroyed) sink.destroy(error as Error);
  } finally {
    file.close();
  }
}

/** The last bytes of a tar stream, to tell whether it ended with its end-of-archive blocks. */
class TarTail {
  /** Whether the stream ended (as opposed to failed or still going). */
  ended = false;
  #total = 0;
  #last = new Uint8Array(1024);

  see(chunk: Uint8Array): void {
    const last = this.#last;
    if (chunk.byteLength >= last.byteLength) {
      last.set(chunk.subarray(chunk.byteLength - last.byteLength));
    } else {
      last.copyWithin(0, chunk.byteLength);
      last.set(chunk, last.byteLength - chunk.byteLength);
    }
    this.#total += chunk.byteLength;
  }

  /** Whether the stream ended with the two zero blocks that close a tar. */
  complete(): boolean {
    return this.ended && this.#total >= this.#last.byteLength &&
      this.#total % 512 === 0 && this.#last.every((byte) => byte === 0);
  }
}

/** Writes `source` into the tar parser with backpressure; ends or destroys it. */
async function feed(
  source: Readable,
  sink: Extract,
  tail: TarTail,
  corrupt: (error: unknown) => Error,
): Promise<void> {
  try {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      if (sink.destroying) break; // the reader stopped: destroys the source, ending the pump
      tail.see(chunk);
      if (!sink.write(chunk)) await drained(sink);
    }
    if (!sink.destroying) {
      tail.ended = true;
      sink.end(undefined);
    }
  } catch (error) {
    if (!sink.destroying) sink.destroy(corrupt(error));
  } finally {
    if (!source.destroyed) source.destroy();
  }
}

/**
 * Streams the tar of `members` then the artifact through the compressor into
 * `file`: pack → compressor → file, each stage waiting for the next.
 */
async function writeTar(
  file: Deno.FsFile,
  members: { name: string; bytes: Uint8Array }[],
  manifest: ArchiveManifest,
  input: WriteArchiveInput,
): Promise<void> {
  const pack = tarPack();
  const compression = input.compression ?? "zstd";
  const compressor = compressorFor(compression);
  compressor.on("error", () => {}); // reaches the writing, which reports it
  let firstError: unknown;
  const note = (error: unknown) => {
    firstError ??= error;
    throw error;
  };
  const abort = () => {
    pack.destroy(input.signal?.reason);
    compressor.destroy(input.signal?.reason);
  };
  input.signal?.addEventListener("abort", abort, { once: true });
  try {
    // The artifact's chunks, which are freed once the compressor has consumed them.
    const owned = new WeakSet<ArrayBufferLike>();
    const producing = produce(pack, members, manifest, input, owned).catch((error) => {
      pack.destroy(error);
      note(error);
    });
    const compressing = (async () => {
      try {
        for await (const chunk of pack as AsyncIterable<Uint8Array>) {
          // Resolves once the compressor has consumed the chunk, so it is spent.
          if (compression === "none") {
            if (!compressor.write(chunk)) await nodeDrained(compressor);
            continue;
          }
          await consumed(compressor, chunk);
          if (owned.has(chunk.buffer)) release(chunk);
        }
        compressor.end();
      } catch (error) {
        compressor.destroy(error as Error);
        throw error;
      }
    })().catch(note);
    const writing = (async () => {
      for await (const chunk of compressor as AsyncIterable<Uint8Array>) {
        await writeAll(file, chunk);
        // The compressor's output, or (uncompressed) the artifact's own chunks: spent now.
        if (compression !== "none") releaseFilled(chunk);
        else if (owned.has(chunk.buffer)) release(chunk);
      }
    })().catch(note);
    const results = await Promise.allSettled([producing, compressing, writing]);
    if (results.some((result) => result.status === "rejected")) {
      input.signal?.throwIfAborted();
      throw firstError;
    }
  } finally {
    input.signal?.removeEventListener("abort", abort);
  }
  input.signal?.throwIfAborted();
}

async function produce(
  pack: Pack,
  members: { name: string; bytes: Uint8Array }[],
  manifest: ArchiveManifest,
  input: WriteArchiveInput,
  owned: WeakSet<ArrayBufferLike>,
): Promise<void> {
  const mtime = new Date(manifest.createdAt);
  for (const { name, bytes } of members) pack.entry({ name, mode: 0o644, mtime }, bytes);
  const { name, sizeBytes, sha256 } = manifest.artifact;
  const sink = pack.entry({ name, size: sizeBytes, mode: 0o644, mtime, type: "file" });
  sink.on("error", () => {}); // its errors reach the reader of the pack, which reports them
  const hash = createHash("sha256");
  let done = 0;
  input.onProgress?.(0, sizeBytes);
  {
    using artifact = await Deno.open(input.artifactPath);
    for (;;) {
      input.signal?.throwIfAborted();
      // A new buffer each time, for the pack queues it; a Buffer, so streamx does not copy it.
      const chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
      owned.add(chunk.buffer);
      const n = await artifact.read(chunk);
      if (n === null) break;
      done += n;
      if (done > sizeBytes) break;
      hash.update(chunk.subarray(0, n));
      if (!sink.write(chunk.subarray(0, n))) await drained(sink);
      input.onProgress?.(done, sizeBytes);
    }
  }
  if (done !== sizeBytes || hash.digest("hex") !== sha256) {
    throw new BadInputError(
      `the artifact ${input.artifactPath} changed while it was being archived; make sure ` +
        `nothing writes to it and export again; nothing was written`,
    );
  }
  sink.end(undefined);
  pack.finalize();
}

/**
 * Hashes a file with SHA-256 through one reused buffer: unlike a
 * `file.readable` loop, this leaves no garbage behind, so a large artifact
 * does not raise the process's memory.
 */
async function hashFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buffer = new Uint8Array(CHUNK_BYTES);
  for (;;) {
    signal?.throwIfAborted();
    const n = await file.read(buffer);
    if (n === null) return hash.digest("hex");
    hash.update(buffer.subarray(0, n));
  }
}

/**
 * Frees a spent chunk's memory now instead of at the next garbage collection,
 * which V8 puts off until some 64 MiB of such buffers have piled up. Only for
 * a chunk that is the whole of its buffer and that nothing else holds.
 */
function release(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (
    buffer instanceof ArrayBuffer && chunk.byteOffset === 0 &&
    chunk.byteLength === buffer.byteLength && !buffer.detached
  ) buffer.transfer(0);
}

/**
 * Frees the buffer under a stream's chunk once its last slice is spent: a
 * (de)compressor fills one buffer with slices, in order, and starts a new one
 * when it is full, and the tar parser hands on slices of its input in order,
 * so a slice that ends its buffer is the last of it.
 */
function releaseFilled(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (
    buffer instanceof ArrayBuffer && !buffer.detached &&
    chunk.byteOffset + chunk.byteLength === buffer.byteLength
  ) buffer.transfer(0);
}

interface DrainableStream {
  destroying: boolean;
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** Writes `chunk` into `stream` and waits until it has consumed it; rejects when it closes. */
function consumed(stream: Transform, chunk: Uint8Array): Promise<void> {
  if (stream.destroyed) return Promise.reject(new Error("the stream was closed"));
  return new Promise((resolve, reject) => {
    const settle = (error?: Error | null) => {
      stream.off("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onClose = () => settle(new Error("the stream was closed"));
    stream.on("close", onClose);
    stream.write(chunk, settle);
  });
}

/** Waits for a full Node writable to drain; rejects when it closes or fails instead. */
function nodeDrained(stream: Transform): Promise<void> {
  if (stream.destroyed) return Promise.reject(new Error("the stream was closed"));
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error("the stream was closed"));
    stream.on("drain", onDrain);
    stream.on("close", onClose);
  });
}

/** Waits for a backpressured streamx writable to drain; rejects when it closes instead. */
function drained(stream: DrainableStream): Promise<void> {
  if (stream.destroying) return Promise.reject(new Error("the tar stream was closed"));
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error("the tar stream was closed"));
    stream.on("drain", onDrain);
    stream.on("close", onClose);
  });
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
}
