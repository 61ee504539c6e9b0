/**
 * The bottle archive: the one portable file that `bot-bottle export` writes
 * and `bot-bottle import` reads. It is a tar, compressed with zstd (the
 * default), gzip or not at all, holding, flat (no directories):
 *
 * 1. `manifest.json`, always the first entry, so a reader checks the format
 *    before it reads anything else;
 * 2. `metadata.json`, the bottle's metadata as it was;
 * 3. `run-config.json`, when the bottle has one;
 * 4. the artifact, one file named by the manifest (e.g. `artifact.docker.tar`);
 * 5. from format 4 on, its checksum `<artifact>.sha256` (e.g.
 *    `artifact.docker.tar.sha256`), one `sha256sum` line.
 *
 * Both directions stream with backpressure from end to end (file →
 * decompressor → tar parser → hash → file, and back), so memory stays the
 * same whatever the size and however well the data compresses: a gigabyte of
 * zeros, which gunzip inflates a thousandfold, waits in no queue. The small
 * JSON members are capped at {@linkcode MAX_JSON_MEMBER_BYTES}.
 *
 * Format 1 was always gzip. Format 2 is format 1 with the compression left to
 * the writer; the reader tells it by the file's first bytes. Format 3 is
 * format 2 holding a full snapshot (a smolvm checkpoint: memory and disk),
 * numbered apart so that an older bot-bottle refuses it rather than import
 * it as a disk snapshot. Format 4 holds either mode, and gives the artifact's
 * SHA-256 after the artifact instead of in the manifest: the writer hashes
 * the artifact as it archives it, reading it once, where formats 1–3 need a
 * pass to hash it before the manifest can be written. The reader hashes the
 * artifact as it streams either way, and checks it before it returns.
 *
 * @module
 */

export {
  ARCHIVE_FORMAT_VERSION,
  type ArchiveManifest,
  type BottleEntries,
  CHECKSUM_AFTER_FORMAT_VERSION,
  checksumName,
  type Compression,
  COMPRESSIONS,
  FULL_SNAPSHOT_FORMAT_VERSION,
  MAX_JSON_MEMBER_BYTES,
  READABLE_FORMAT_VERSIONS,
} from "./manifest.ts";
export { type ReadArchive, readBottleArchive } from "./read.ts";
export { type WriteArchiveInput, writeBottleArchive } from "./write.ts";
