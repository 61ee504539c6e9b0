/**
 * Private temporary directories that are removed afterwards, on success, on
 * failure and on interruption alike.
 *
 * @module
 */

/**
 * Runs `fn` with a new private (0700) temporary directory and removes it
 * afterwards, whatever `fn` did. An interrupted command makes `fn` throw, so
 * the directory goes then too.
 *
 * @param fn The work, given the directory's path.
 * @param prefix The directory name's prefix.
 * @returns What `fn` returned.
 */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix = "bot-bottle-",
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await Deno.chmod(dir, 0o700);
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
