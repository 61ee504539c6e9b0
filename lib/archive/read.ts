/**
 * Reading a `.bottle` archive (`bot-bottle import`): the manifest first, each
 * member checked, the artifact hashed as it streams.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { extract as tarExtract } from "tar-stream";
import type { Compression } from "./archive_compression.ts";
import { type ArtifactImages, ArtifactNamesReader } from "./artifact_names.ts";
import { BadInputError } from "../errors.ts";
import {
  type ArchiveManifest,
  checksumFollows,
  checksumName,
  expectedNames,
  MANIFEST,
  type ManifestOnDisk,
  MAX_CHECKSUM_MEMBER_BYTES,
  MAX_JSON_MEMBER_BYTES,
  METADATA,
  nameProblem,
  parseManifest,
  RUN_CONFIG,
} from "./manifest.ts";
import { decompressorFor, feed, pump, releaseFilled, TarTail, writeAll } from "./streams.ts";

/** What {@linkcode readBottleArchive} found, all of it checked against the manifest. */
export interface ReadArchive {
  /** The validated manifest, with the artifact's SHA-256 (format 4: its checksum member's). */
  manifest: ArchiveManifest;
  /** The text of `metadata.json`, as it was archived. */
  metadataJson: string;
  /** `metadata.json` parsed (not validated: the caller validates it). */
  metadata: unknown;
  /** The text of `run-config.json`, when the archive holds one. */
  runConfigJson?: string;
  /** `run-config.json` parsed (not validated), when the archive holds one. */
  runConfig?: unknown;
  /** Where the artifact was written: `<into>/<manifest.artifact.name>`. */
  artifactPath: string;
  /** What the artifact's own manifests name, read in the same pass (see `artifact_names.ts`). */
  artifactImages: ArtifactImages;
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
 * @param onManifest Called with the validated manifest (from format 4 on
 * without the artifact's SHA-256, which follows the artifact) before anything
 * else is read or written; what it throws ends the read, with nothing left in
 * `into`.
 * @returns The manifest, the JSON members' text and the artifact's path.
 * @throws {BadInputError} When `file` is missing, not an archive, corrupt or
 * truncated; when its first entry is not a valid `manifest.json` of a format
 * this bot-bottle reads; when an entry is not a regular file, has an unsafe
 * or unexpected name, or is duplicated; when a member is missing or over
 * 1 MiB; or when the artifact's size or SHA-256 does not match the manifest
 * (format 4: its checksum member, which must be a `sha256sum` line of it).
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
  onManifest?: (manifest: ManifestOnDisk) => void,
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
    let manifest: ManifestOnDisk | undefined;
    // The artifact's SHA-256 as read, and as its checksum member says (format 4).
    let digest: string | undefined;
    let declared: string | undefined;
    const compare = (name: string, against: string) => {
      if (digest === undefined || declared === undefined || digest === declared) return;
      throw refuse(
        `its artifact ${JSON.stringify(name)} has SHA-256 ${digest}, but ${against} says ` +
          `${declared}, so it was damaged or altered`,
      );
    };
    let metadata: JsonMember | undefined;
    let runConfig: JsonMember | undefined;
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
          (await readJsonMember(entry, name, size, refuse, damaged)).text,
          refuse,
        );
        // Before any other member is read or the artifact written: the caller's own refusals.
        onManifest?.(manifest);
      } else if (name === METADATA) {
        metadata = await readJsonMember(entry, name, size, refuse, damaged);
      } else if (name === RUN_CONFIG && manifest.hasRunConfig) {
        runConfig = await readJsonMember(entry, name, size, refuse, damaged);
      } else if (name === manifest.artifact.name) {
        const { sizeBytes } = manifest.artifact;
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
        digest = hash.digest("hex");
        if (manifest.artifact.sha256 !== undefined) {
          declared = manifest.artifact.sha256;
          compare(name, "the manifest");
        } else compare(name, JSON.stringify(checksumName(name)));
      } else if (
        checksumFollows(manifest.formatVersion) && name === checksumName(manifest.artifact.name)
      ) {
        declared = parseChecksum(
          await readMemberText(entry, name, size, MAX_CHECKSUM_MEMBER_BYTES, refuse, damaged),
          manifest.artifact.name,
          name,
          refuse,
        );
        compare(manifest.artifact.name, JSON.stringify(name));
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
      // Every expected member was read, so the artifact was, and it matched.
      manifest: { ...manifest, artifact: { ...manifest.artifact, sha256: digest! } },
      metadataJson: metadata!.text,
      metadata: metadata!.value,
      ...(runConfig === undefined
        ? {}
        : { runConfigJson: runConfig.text, runConfig: runConfig.value }),
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

/** A JSON member's text, and its value parsed once (the manifest's is parsed by its schema). */
interface JsonMember {
  text: string;
  value: unknown;
}

/** A small member's text: at most `limit` bytes of UTF-8. */
async function readMemberText(
  entry: AsyncIterable<unknown>,
  name: string,
  size: number,
  limit: number,
  refuse: (problem: string, cause?: unknown) => BadInputError,
  damaged: (error: unknown) => BadInputError,
): Promise<string> {
  if (size > limit) throw refuse(`its ${name} is ${size} bytes, over the limit of ${limit}`);
  const chunks: Uint8Array[] = [];
  for await (const chunk of entryChunks(entry, damaged)) chunks.push(chunk);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(concat(chunks));
  } catch (error) {
    throw refuse(`its ${name} is not UTF-8 text`, error);
  }
}

/** The SHA-256 a checksum member gives its artifact: one line, `<sha256>  <artifact>`. */
function parseChecksum(
  text: string,
  artifactName: string,
  name: string,
  refuse: (problem: string, cause?: unknown) => BadInputError,
): string {
  const [, sha256, named] = text.match(/^([0-9a-f]{64}) {2}([^\n]*)\n$/) ?? [];
  if (sha256 === undefined || named !== artifactName) {
    throw refuse(
      `its ${name} is not the checksum line of ${JSON.stringify(artifactName)} ` +
        `("<sha256>  ${artifactName}" and a newline)`,
    );
  }
  return sha256;
}

async function readJsonMember(
  entry: AsyncIterable<unknown>,
  name: string,
  size: number,
  refuse: (problem: string, cause?: unknown) => BadInputError,
  damaged: (error: unknown) => BadInputError,
): Promise<JsonMember> {
  const text = await readMemberText(entry, name, size, MAX_JSON_MEMBER_BYTES, refuse, damaged);
  if (name === MANIFEST) return { text, value: undefined };
  try {
    return { text, value: JSON.parse(text) };
  } catch (error) {
    throw refuse(`its ${name} is not JSON (${(error as Error).message})`, error);
  }
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
