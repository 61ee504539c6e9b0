/**
 * Reading and replacing the files of a state directory, which other programs
 * (and people) may have changed: a read never follows a symbolic link and
 * never takes more than {@linkcode MAX_STATE_FILE_BYTES}; a replacement is
 * atomic, so a reader sees the old content or the new, never a half-written
 * file.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { BadInputError } from "../errors.ts";

/** The largest state file bot-bottle reads: 1 MiB. Its own files are a few kilobytes. */
export const MAX_STATE_FILE_BYTES = 1024 * 1024;
/**
 * The largest `snapshots.json` bot-bottle reads: 32 MiB, some 130,000
 * snapshots at ~250 bytes each (a commit every 5 minutes for over a year,
 * with retention off). bot-bottle never writes a larger one: the commit that
 * would is refused, with a message to prune.
 */
export const MAX_HISTORY_FILE_BYTES = 32 * 1024 * 1024;
/**
 * The deepest nesting of arrays and objects a state JSON file may have:
 * deeper values would overflow the stack of `JSON.stringify` when written back.
 */
export const MAX_JSON_DEPTH = 64;

/** What {@linkcode readFileNoFollow} read. */
export interface FileRead {
  /** The content. */
  data: Uint8Array;
  /** The file's information, from the open file. */
  info: Deno.FileInfo;
}

/**
 * Reads a regular file without following a symbolic link, and at most
 * `maxBytes` of it: the path is checked with `lstat`, and the file opened is
 * checked to be the one checked (same device and inode), so a link swapped
 * in between is refused too.
 *
 * @param path The file.
 * @param maxBytes The largest content accepted.
 * @returns The content and the file's information, or `undefined` when there
 * is no such file.
 * @throws {BadInputError} When the path is a symbolic link, not a regular
 * file, larger than `maxBytes`, or cannot be read.
 */
export async function readFileNoFollow(
  path: string,
  maxBytes: number = MAX_STATE_FILE_BYTES,
): Promise<FileRead | undefined> {
  let checked: Deno.FileInfo;
  try {
    checked = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw cannotRead(path, error);
  }
  await refuseUnlessRegular(path, checked, maxBytes);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw cannotRead(path, error);
  }
  try {
    const info = await file.stat();
    if (!info.isFile || info.ino !== checked.ino || info.dev !== checked.dev) {
      throw new BadInputError(
        `${path} was replaced while bot-bottle read it; try again, and check what else writes ` +
          `to ${dirname(path)}`,
      );
    }
    // One buffer the size the file reports (a long history is read in one go), grown for a
    // file that reports less (/proc) or grew, never past the limit.
    let buffer = new Uint8Array(Math.min(Math.max(info.size + 1, 64 * 1024), maxBytes + 1));
    let total = 0;
    for (;;) {
      if (total === buffer.length) {
        const grown = new Uint8Array(Math.min(buffer.length * 2, maxBytes + 1));
        grown.set(buffer);
        buffer = grown;
      }
      const n = await file.read(buffer.subarray(total)).catch((error) => {
        throw cannotRead(path, error);
      });
      if (n === null) break;
      total += n;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
    }
    const data = buffer.subarray(0, total);
    return { data, info };
  } finally {
    file.close();
  }
}

async function refuseUnlessRegular(
  path: string,
  info: Deno.FileInfo,
  maxBytes: number,
): Promise<void> {
  if (info.isSymlink) {
    const target = await Deno.readLink(path).catch(() => undefined);
    throw new BadInputError(
      `${path} is a symbolic link${target === undefined ? "" : ` to ${target}`}, and bot-bottle ` +
        `does not follow links in a state directory; replace the link with the file itself, ` +
        `or restore the file`,
    );
  }
  if (!info.isFile) {
    throw new BadInputError(
      `${path} is not a regular file (it is ${
        info.isDirectory ? "a directory" : "a device, socket or pipe"
      }); fix or restore the file`,
    );
  }
  if (info.size > maxBytes) throw tooLarge(path, maxBytes);
}

function tooLarge(path: string, maxBytes: number): BadInputError {
  const limit = maxBytes % 1024 ** 2 === 0 ? `${maxBytes / 1024 ** 2} MiB` : `${maxBytes} bytes`;
  return new BadInputError(
    `${path} is larger than ${limit}, too large for a state file; fix or restore the file`,
  );
}

function cannotRead(path: string, error: unknown): BadInputError {
  return new BadInputError(
    `cannot read ${path}: ${(error as Error).message}; fix its permissions, or restore the file`,
    { cause: error },
  );
}

/**
 * Writes `content` to `path` atomically: to a temporary file in the same
 * directory, flushed to disk, then renamed over `path`. On failure the
 * temporary file is removed and `path` is untouched. A symbolic link at
 * `path` is replaced by the file, never followed.
 *
 * @param path The file to replace or create.
 * @param content The new content.
 * @param mode The file's permissions (default `0o600`, also when it replaces
 * a file with wider ones: state files may hold secrets).
 * @throws {Deno.errors.NotFound} When the directory does not exist.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  const data = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const temp = join(
    dirname(path),
    `.${basename(path)}.tmp-${crypto.randomUUID().slice(0, 8)}`,
  );
  try {
    using file = await Deno.open(temp, { write: true, createNew: true, mode });
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
    await file.sync();
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/**
 * A change of a file in place, as a commit adds its record to
 * `snapshots.json`: `content` written at byte `at`, over the file's last
 * bytes, `old`, which it gets back on a rollback. It applies only to the
 * file read before (`ino`, `dev`, `size`).
 */
export interface FileSplice {
  /** The byte offset `content` goes at. */
  at: number;
  /** The new bytes, to the file's new end. */
  content: Uint8Array;
  /** The file's bytes from `at` to its end now, which a rollback puts back. */
  old: Uint8Array;
  /** The file as it was read: its inode, device and size. */
  read: Pick<Deno.FileInfo, "ino" | "dev" | "size">;
}

/**
 * Changes the end of `path` in place ({@linkcode FileSplice}) and flushes it
 * to disk. The file must still be the one read, unchanged in size: a link, a
 * file swapped in or grown since is refused, and nothing is written. When the
 * write fails part-way, the old end is put back.
 *
 * @throws {BadInputError} When the file is not the one read.
 * @throws The write's error; the file is then as it was.
 */
async function spliceFile(path: string, splice: FileSplice): Promise<void> {
  const checked = await Deno.lstat(path).catch((error) => {
    throw cannotRead(path, error);
  });
  if (!checked.isFile || checked.ino !== splice.read.ino || checked.dev !== splice.read.dev) {
    throw changedSinceRead(path);
  }
  using file = await Deno.open(path, { read: true, write: true });
  const opened = await file.stat();
  if (
    opened.ino !== splice.read.ino || opened.dev !== splice.read.dev ||
    opened.size !== splice.read.size || splice.at + splice.old.length !== opened.size
  ) throw changedSinceRead(path);
  try {
    await writeAt(file, splice.at, splice.content);
    await file.syncData();
  } catch (error) {
    await restoreEnd(file, splice).catch(() => {});
    throw error;
  }
}

/** Puts back the end a {@linkcode spliceFile} replaced. */
async function unsplice(path: string, splice: FileSplice): Promise<void> {
  using file = await Deno.open(path, { read: true, write: true });
  await restoreEnd(file, splice);
}

async function restoreEnd(file: Deno.FsFile, splice: FileSplice): Promise<void> {
  // Cut first, then the old end: a reader in between sees whole records and no end, which
  // it reads as an addition cut short, never as a record.
  await file.truncate(splice.at);
  await writeAt(file, splice.at, splice.old);
  await file.syncData();
}

async function writeAt(file: Deno.FsFile, at: number, data: Uint8Array): Promise<void> {
  await file.seek(at, Deno.SeekMode.Start);
  let written = 0;
  while (written < data.length) written += await file.write(data.subarray(written));
}

function changedSinceRead(path: string): BadInputError {
  return new BadInputError(
    `${path} was changed or replaced while bot-bottle read it; try again, and check what ` +
      `else writes to ${dirname(path)}`,
  );
}

/** One file of {@linkcode writeFilesTogether}: its new content, or a change of its end. */
export type FileChange =
  | { path: string; content: string; maxBytes?: number }
  | { path: string; splice: FileSplice };

/**
 * Writes several files, each atomically, as one change: when any write
 * fails, the files already written get their old content back (or are
 * removed, if they did not exist), so readers see all old or all new. The
 * old content is read first, with {@linkcode readFileNoFollow}: when any of
 * the files is a symbolic link or not a regular file, nothing is written. A
 * file changed in place ({@linkcode spliceFile}) is not read again: its
 * rollback puts back the end it replaced.
 *
 * @param files The files and their new content, in the order to write them,
 * each with the largest size accepted of its old content (default
 * {@linkcode MAX_STATE_FILE_BYTES}).
 * @throws {BadInputError} When a file is a symbolic link, not a regular file,
 * or larger than its limit; nothing was written.
 * @throws The first error of a write; the files are then as they were.
 */
export async function writeFilesTogether(files: readonly FileChange[]): Promise<void> {
  const olds: (FileRead | undefined)[] = [];
  for (const file of files) {
    olds.push("splice" in file ? undefined : await readFileNoFollow(file.path, file.maxBytes));
  }
  const written: { file: FileChange; old: Uint8Array | undefined }[] = [];
  try {
    for (const [index, file] of files.entries()) {
      if ("splice" in file) {
        await spliceFile(file.path, file.splice);
        written.push({ file, old: undefined });
        continue;
      }
      const old = olds[index];
      const data = new TextEncoder().encode(file.content);
      // A file that already holds this content, with the mode a write gives, is left as it
      // is: rewriting it would change nothing but cost a flush to disk.
      if (old && ((old.info.mode ?? 0) & 0o7777) === 0o600 && sameBytes(old.data, data)) continue;
      written.push({ file, old: old?.data });
      await writeFileAtomic(file.path, data);
    }
  } catch (error) {
    for (const { file, old } of written.reverse()) {
      if ("splice" in file) await unsplice(file.path, file.splice).catch(() => {});
      else if (old === undefined) await Deno.remove(file.path).catch(() => {});
      else await writeFileAtomic(file.path, old).catch(() => {});
    }
    throw error;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let index = 0; index < a.byteLength; index++) if (a[index] !== b[index]) return false;
  return true;
}
