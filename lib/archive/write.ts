/**
 * Writing a `.bottle` archive (`bot-bottle export`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { type Pack, pack as tarPack } from "tar-stream";
import type { Compression } from "./archive_compression.ts";
import { BadInputError } from "../errors.ts";
import {
  ARCHIVE_FORMAT_VERSION,
  type ArchiveManifest,
  checkManifest,
  checksumFollows,
  checksumName,
  checksumText,
  MANIFEST,
  type ManifestOnDisk,
  MAX_JSON_MEMBER_BYTES,
  METADATA,
  RUN_CONFIG,
} from "./manifest.ts";
import {
  CHUNK_BYTES,
  compressorFor,
  consumed,
  drained,
  hashFile,
  nodeDrained,
  release,
  releaseFilled,
  writeAll,
} from "./streams.ts";

/** What {@linkcode writeBottleArchive} writes. */
export interface WriteArchiveInput {
  /** The manifest, less what the writer fills in itself. */
  manifest: Omit<ArchiveManifest, "formatVersion" | "artifact" | "hasRunConfig" | "createdAt">;
  /** The bottle's `metadata.json`, as it is (JSON, at most 1 MiB). */
  metadataJson: string;
  /** The bottle's `run-config.json`, as it is (JSON, at most 1 MiB), when it has one. */
  runConfigJson?: string;
  /**
   * The artifact file to archive. It is read once, hashed as it is copied (twice for format 1,
   * whose manifest holds its SHA-256: hashed, then copied), and never changed.
   */
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

/**
 * Writes a bottle archive to `out`: streams the tar through the compressor
 * (zstd unless `input.compression` says otherwise) into a private (0600)
 * temporary file beside `out`, hashing the artifact on its way and writing its
 * SHA-256 after it (format 4; for format 1, gzip, the artifact is hashed first,
 * for the manifest), flushes the file and moves it to `out`. A failure or an
 * interrupt leaves no `out` and no temporary file; `out` is never overwritten.
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
  // Format 1 (gzip, which bot-bottle 0.1 reads) only for a disk snapshot: 0.1 resumes no other.
  const formatVersion =
    (input.compression ?? "zstd") === "gzip" && input.manifest.snapshot.mode !== "full"
      ? 1
      : ARCHIVE_FORMAT_VERSION;
  const hashFirst = !checksumFollows(formatVersion);
  // Checked before the (long) archiving; format 1's digest is filled in after its hashing.
  const manifest = checkManifest({
    ...input.manifest,
    formatVersion,
    createdAt: new Date().toISOString(),
    artifact: {
      name: input.artifactName,
      ...hashFirst ? { sha256: "0".repeat(64) } : {},
      sizeBytes: info.size,
    },
    hasRunConfig: runConfig !== undefined,
  });
  if (hashFirst) {
    manifest.artifact.sha256 = await hashFile(input.artifactPath, signal);
    signal?.throwIfAborted();
  }

  const temp = join(dirname(out), `.${basename(out)}.tmp-${crypto.randomUUID().slice(0, 8)}`);
  let sha256: string;
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
      sha256 = await writeTar(file, members, manifest, input);
      await file.sync();
    }
    signal?.throwIfAborted();
    await publish(temp, out);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  return { ...manifest, artifact: { ...manifest.artifact, sha256 } };
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

/**
 * Streams the tar of `members`, the artifact and (format 4) its checksum
 * through the compressor into `file`: pack → compressor → file, each stage
 * waiting for the next. Returns the artifact's SHA-256.
 */
async function writeTar(
  file: Deno.FsFile,
  members: { name: string; bytes: Uint8Array }[],
  manifest: ManifestOnDisk,
  input: WriteArchiveInput,
): Promise<string> {
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
    let sha256 = "";
    const producing = produce(pack, members, manifest, input, owned).then(
      (digest) => void (sha256 = digest),
      (error) => {
        pack.destroy(error);
        note(error);
      },
    );
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
    input.signal?.throwIfAborted();
    return sha256;
  } finally {
    input.signal?.removeEventListener("abort", abort);
  }
}

/** Packs the members, the artifact and (format 4) its checksum; returns the artifact's SHA-256. */
async function produce(
  pack: Pack,
  members: { name: string; bytes: Uint8Array }[],
  manifest: ManifestOnDisk,
  input: WriteArchiveInput,
  owned: WeakSet<ArrayBufferLike>,
): Promise<string> {
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
  const digest = hash.digest("hex");
  // Its size (and, for format 1, its content) against what the manifest says of it.
  if (done !== sizeBytes || (sha256 !== undefined && digest !== sha256)) {
    throw new BadInputError(
      `the artifact ${input.artifactPath} changed while it was being archived; make sure ` +
        `nothing writes to it and export again; nothing was written`,
    );
  }
  sink.end(undefined);
  if (sha256 === undefined) {
    const text = new TextEncoder().encode(checksumText(name, digest));
    pack.entry({ name: checksumName(name), mode: 0o644, mtime }, text);
  }
  pack.finalize();
  return digest;
}
