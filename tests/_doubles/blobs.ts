// File contents too large or too binary for a double's world file. The worlds
// keep each file as a string (relative path → content); a content that reads
// `\0blob:<sha256 hex>` stands for the bytes of `<store>/<hex>`, a
// content-addressed store beside the world files (`<dir>/blobs`, shared by
// both doubles). The doubles write such a file's bytes wherever they would
// write its text (an export, a pack, a layer, `cat`), and keep a file they
// read from a tar as a blob when it is over BLOB_THRESHOLD bytes or not
// UTF-8, so a world stays small and binary data survives, as it does in the
// real CLIs. The bench (bench/doubles_bench.ts) puts its data in this way.

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";

/** What a blob's content string starts with. */
const PREFIX = "\0blob:";

/** Files read from a tar above this size (bytes) are kept as blobs; smaller UTF-8 ones as text. */
export const BLOB_THRESHOLD = 1024;

/** The blob store beside the world file named by BOT_BOTTLE_DOUBLE_WORLD. */
function storeOfWorld(): string {
  const world = Deno.env.get("BOT_BOTTLE_DOUBLE_WORLD");
  if (!world) throw new Error("doubles: BOT_BOTTLE_DOUBLE_WORLD is not set");
  return blobStore(dirname(world));
}

/** The blob store of the doubles installed in `dir` (see harness.ts). */
export function blobStore(dir: string): string {
  return join(dir, "blobs");
}

/** The store path of `content` when it is a blob reference. */
function blobPath(content: string, store = storeOfWorld()): string | undefined {
  if (!content.startsWith(PREFIX)) return undefined;
  const hex = content.slice(PREFIX.length);
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`doubles: a bad blob reference ${hex}`);
  return join(store, hex);
}

/** The bytes of a file's content (text or blob). */
export async function contentBytes(content: string): Promise<Uint8Array> {
  const path = blobPath(content);
  return path === undefined ? new TextEncoder().encode(content) : await Deno.readFile(path);
}

/** A file's size in bytes (text or blob). */
export async function contentSize(content: string): Promise<number> {
  const path = blobPath(content);
  return path === undefined
    ? new TextEncoder().encode(content).length
    : (await Deno.stat(path)).size;
}

/** Writes a file's content (text or blob) at `target`. */
export async function writeContent(target: string, content: string): Promise<void> {
  const path = blobPath(content);
  if (path === undefined) await Deno.writeTextFile(target, content);
  else await Deno.copyFile(path, target);
}

/** Writes a file's content (text or blob) to stdout. */
export async function printContent(content: string): Promise<void> {
  const path = blobPath(content);
  if (path === undefined) {
    const bytes = new TextEncoder().encode(content);
    let written = 0;
    while (written < bytes.length) written += await Deno.stdout.write(bytes.subarray(written));
    return;
  }
  using file = await Deno.open(path);
  await file.readable.pipeTo(Deno.stdout.writable, { preventClose: true });
}

/**
 * The content string of the file at `path`, read from a tar the double
 * unpacked: its text when it is small and UTF-8, else a blob (the file is
 * moved into the store: the caller must not need it any more).
 */
export async function readContent(path: string, store = storeOfWorld()): Promise<string> {
  const { size } = await Deno.stat(path);
  if (size <= BLOB_THRESHOLD) {
    const bytes = await Deno.readFile(path);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      // binary: a blob
    }
  }
  return await storeBlob(store, path, { move: true });
}

/**
 * Puts the file at `path` into the blob store `store` and returns its content
 * string; `move` renames it there instead of copying.
 */
export async function storeBlob(
  store: string,
  path: string,
  { move = false }: { move?: boolean } = {},
): Promise<string> {
  const hash = createHash("sha256");
  {
    using file = await Deno.open(path);
    for await (const chunk of file.readable) hash.update(chunk);
  }
  const hex = hash.digest("hex");
  await Deno.mkdir(store, { recursive: true });
  const target = join(store, hex);
  if (await Deno.stat(target).then(() => true, () => false)) {
    if (move) await Deno.remove(path);
  } else if (move) {
    await Deno.rename(path, target).catch(() => copyInto(path, target));
  } else {
    await copyInto(path, target);
  }
  return `${PREFIX}${hex}`;
}

/** Copies `path` to `target` whole or not at all (another double may read it meanwhile). */
async function copyInto(path: string, target: string): Promise<void> {
  const temp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.copyFile(path, temp);
  await Deno.rename(temp, target);
}

/**
 * What a double worked out once for `key` (e.g. the digest of a layer it
 * tars), kept beside the blob store: `undefined` when it has not.
 */
export async function recall<T>(key: string): Promise<T | undefined> {
  const path = join(storeOfWorld(), "memo", `${sha256Hex(key)}.json`);
  return await Deno.readTextFile(path).then((text) => JSON.parse(text) as T, () => undefined);
}

/** Keeps `value` for `key` (see {@linkcode recall}). */
export async function remember(key: string, value: unknown): Promise<void> {
  const dir = join(storeOfWorld(), "memo");
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, `${sha256Hex(key)}.json`);
  const temp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(temp, JSON.stringify(value));
  await Deno.rename(temp, path);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
