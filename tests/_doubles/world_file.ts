// A double's world file is written whole or not at all (temporary file and
// rename), so a test polling it while a double runs never reads half of it.

/** Replaces the world file at `path` with `world`, atomically. */
export async function writeWorldFile(path: string, world: unknown): Promise<void> {
  const temp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(temp, JSON.stringify(world, null, 2));
  await Deno.rename(temp, path);
}
