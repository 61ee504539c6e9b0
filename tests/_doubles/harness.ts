// Test doubles of the backend CLIs that cannot run here (Apple `container`,
// `smolvm`): executables put first on PATH, each a TypeScript program that
// keeps its world (containers, machines, images, every call made) in a JSON
// file the test reads and writes. See container.ts and smolvm.ts. Both push
// to and pull from one registry directory (registry.ts), `<dir>/registry`,
// named to them by BOT_BOTTLE_DOUBLE_REGISTRY.

import { join } from "node:path";
import { writeWorldFile } from "./world_file.ts";
import { type CliRun, DENO_DIR, runCli } from "../_helpers/cli.ts";
import { launcherMetadata, type TempHome, tempHome } from "../_helpers/temp_home.ts";
import type { ContainerWorld } from "./container_world.ts";
import type { SmolvmWorld } from "./smolvm_world.ts";
import { defaultRegistryHosts, type RegistryHosts, writeRegistryHosts } from "./registry.ts";
import { present } from "../_helpers/present.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** A double's world file. */
export interface World<T> {
  /** The file's path. */
  path: string;
  read(): Promise<T>;
  write(world: T): Promise<void>;
  /** Reads, lets `change` edit the world in place, writes it back, returns it. */
  update(change: (world: T) => void): Promise<T>;
}

/** The installed doubles. */
export interface Doubles extends AsyncDisposable {
  /** A private directory: `bin/` with the executables, the world files, `tmp/`. */
  dir: string;
  /**
   * Environment for a CLI subprocess: PATH with the doubles first, and
   * TMPDIR pointing at `<dir>/tmp` so a test can see leftover temp files.
   */
  env: Record<string, string>;
  /** `<dir>/tmp`. */
  tmp: string;
  container: World<ContainerWorld>;
  smolvm: World<SmolvmWorld>;
  /** The registry both doubles push to and pull from (see registry.ts): `<dir>/registry`. */
  registry: World<RegistryHosts> & { dir: string };
}

function world<T>(path: string): World<T> {
  const read = async () => JSON.parse(await Deno.readTextFile(path)) as T;
  const write = (value: T) => writeWorldFile(path, value);
  return {
    path,
    read,
    write,
    async update(change) {
      const value = await read();
      change(value);
      await write(value);
      return value;
    },
  };
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Installs the `container` and `smolvm` doubles in a new temporary
 * directory, with the given worlds (defaults: see each world module).
 */
export async function installDoubles(
  worlds: { container?: ContainerWorld; smolvm?: SmolvmWorld; registry?: RegistryHosts } = {},
): Promise<Doubles> {
  const { defaultContainerWorld } = await import("./container_world.ts");
  const { defaultSmolvmWorld } = await import("./smolvm_world.ts");
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-doubles-" });
  const bin = join(dir, "bin");
  const tmp = join(dir, "tmp");
  await Deno.mkdir(bin);
  await Deno.mkdir(tmp);
  const doubles = {
    container: world<ContainerWorld>(join(dir, "container.json")),
    smolvm: world<SmolvmWorld>(join(dir, "smolvm.json")),
  };
  await doubles.container.write(worlds.container ?? defaultContainerWorld());
  await doubles.smolvm.write(worlds.smolvm ?? defaultSmolvmWorld());
  const registryDir = join(dir, "registry");
  await writeRegistryHosts(registryDir, worlds.registry ?? defaultRegistryHosts());
  for (const [name, program] of [["container", "container.ts"], ["smolvm", "smolvm.ts"]]) {
    const script = [
      "#!/bin/sh",
      `BOT_BOTTLE_DOUBLE_WORLD=${shellQuote(join(dir, `${name}.json`))} \\`,
      `BOT_BOTTLE_DOUBLE_REGISTRY=${shellQuote(registryDir)} \\`,
      `DENO_DIR=${shellQuote(DENO_DIR)} \\`,
      `exec ${shellQuote(Deno.execPath())} run --allow-all --quiet --config ${
        shellQuote(CONFIG)
      } \\`,
      `  ${shellQuote(new URL(present(program), import.meta.url).pathname)} "$@"`,
      "",
    ].join("\n");
    await Deno.writeTextFile(join(bin, present(name)), script, { mode: 0o755 });
  }
  return {
    dir,
    tmp,
    env: { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`, TMPDIR: tmp },
    ...doubles,
    registry: { ...world<RegistryHosts>(join(registryDir, "hosts.json")), dir: registryDir },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A bottle's state in a temp home, with the doubles installed: one backend test's setting. */
export interface BottleOnDoubles extends AsyncDisposable {
  home: TempHome;
  /** The bottle's state directory. */
  dir: string;
  doubles: Doubles;
  /** The CLI's environment: the temp HOME, and PATH with the doubles first. */
  env: Record<string, string>;
  /** Runs `bot-bottle commit <slug> ...args`. */
  commit(...args: string[]): Promise<CliRun>;
}

/**
 * Writes the state of bottle `slug` on `backend` as the launcher would, and
 * installs the doubles with `worlds`.
 */
export async function bottleOnDoubles(
  slug: string,
  backend: string,
  worlds: { container?: ContainerWorld; smolvm?: SmolvmWorld },
): Promise<BottleOnDoubles> {
  const home = await tempHome();
  const dir = await home.writeBottle(slug, launcherMetadata(slug, { backend }));
  const doubles = await installDoubles(worlds);
  const env = { ...home.env, ...doubles.env };
  return {
    home,
    dir,
    doubles,
    env,
    commit: (...args) => runCli(["commit", slug, ...args], env),
    async [Symbol.asyncDispose]() {
      await doubles[Symbol.asyncDispose]();
      await home[Symbol.asyncDispose]();
    },
  };
}

/** Runs `fn` with this process's PATH finding the doubles first, for library calls. */
export async function withDoublesOnPath<T>(doubles: Doubles, fn: () => Promise<T>): Promise<T> {
  const saved = Deno.env.get("PATH");
  Deno.env.set("PATH", present(doubles.env.PATH));
  try {
    return await fn();
  } finally {
    if (saved === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", saved);
  }
}
