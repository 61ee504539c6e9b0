/**
 * Atomic file replacement: a reader sees the old content or the new, never a
 * half-written file.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/**
 * Writes `content` to `path` atomically: to a temporary file in the same
 * directory, flushed to disk, then renamed over `path`. On failure the
 * temporary file is removed and `path` is untouched.
 *
 * @param path The file to replace or create.
 * @param content The new content.
 * @param mode The file's permissions (default: those of the file it
 * replaces, else `0o600`).
 * @throws {Deno.errors.NotFound} When the directory does not exist.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array,
  mode?: number,
): Promise<void> {
  mode ??= await Deno.stat(path).then((info) => (info.mode ?? 0o600) & 0o777, () => 0o600);
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
 * Writes several files, each atomically, as one change: when any write
 * fails, the files already written get their old content back (or are
 * removed, if they did not exist), so readers see all old or all new.
 *
 * @param files The files and their new content, in the order to write them.
 * @throws The first error; the files are then as they were.
 */
export async function writeFilesTogether(
  files: readonly { path: string; content: string }[],
): Promise<void> {
  const written: { path: string; old: Uint8Array | undefined }[] = [];
  try {
    for (const file of files) {
      const old = await Deno.readFile(file.path).catch((error) => {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      });
      written.push({ path: file.path, old });
      await writeFileAtomic(file.path, file.content);
    }
  } catch (error) {
    for (const { path, old } of written.reverse()) {
      if (old === undefined) await Deno.remove(path).catch(() => {});
      else await writeFileAtomic(path, old).catch(() => {});
    }
    throw error;
  }
}
