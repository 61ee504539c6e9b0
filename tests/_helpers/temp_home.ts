// A temporary HOME per test, removed when the test is done (`await using`).

import { join } from "node:path";

/** A temporary home directory holding a bot-bottle state root. */
export interface TempHome extends AsyncDisposable {
  /** The home directory. */
  home: string;
  /** `<home>/.bot-bottle`. */
  root: string;
  /** The environment a CLI subprocess gets: `HOME` pointing here. */
  env: Record<string, string>;
  /** The state directory of `slug`: `<root>/state/<slug>`. */
  stateDir(slug: string): string;
  /**
   * Writes a bottle's state directory as the launcher does: `metadata.json`
   * from `metadata`, or the text `raw` as it is.
   */
  writeBottle(slug: string, metadata?: Record<string, unknown>, raw?: string): Promise<string>;
}

/** Metadata as the launcher writes it at start, for a docker bottle. */
export function launcherMetadata(slug: string, extra: Record<string, unknown> = {}) {
  return {
    identity: slug,
    agent_name: "claude",
    cwd: "/home/dev/project",
    copy_cwd: false,
    started_at: "2026-06-23T07:41:48.123456+00:00",
    compose_project: `bot-bottle-${slug}`,
    backend: "docker",
    label: slug,
    color: "blue",
    bottle_names: [`bot-bottle-${slug}`],
    ...extra,
  };
}

/** Makes a temporary HOME. */
export async function tempHome(): Promise<TempHome> {
  const home = await Deno.makeTempDir({ prefix: "bot-bottle-test-" });
  const root = join(home, ".bot-bottle");
  const stateDir = (slug: string) => join(root, "state", slug);
  return {
    home,
    root,
    env: { HOME: home },
    stateDir,
    async writeBottle(slug, metadata = launcherMetadata(slug), raw) {
      const dir = stateDir(slug);
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(
        join(dir, "metadata.json"),
        raw ?? JSON.stringify(metadata, null, 2),
      );
      return dir;
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(home, { recursive: true });
    },
  };
}

/**
 * Reads every file under `dir` (path → content, symlinks as `-> target`), so
 * a test can assert that a failed command changed nothing.
 */
export async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  async function walk(path: string, prefix: string) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      const key = `${prefix}${entry.name}`;
      if (entry.isSymlink) tree[key] = `-> ${await Deno.readLink(full)}`;
      else if (entry.isDirectory) {
        tree[`${key}/`] = "";
        await walk(full, `${key}/`);
      } else tree[key] = await Deno.readTextFile(full);
    }
  }
  await walk(dir, "");
  return tree;
}
