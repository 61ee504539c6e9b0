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
