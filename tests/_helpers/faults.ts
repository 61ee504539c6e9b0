// Fault injection for the reliability tests: a docker CLI that stalls at a
// chosen command, an engine socket that dies mid-operation, a disk that is
// full, a state directory that is read-only.

import { $ } from "dax";
import { join } from "node:path";
import { present } from "./present.ts";

/** Where the real docker CLI is, for the shim to run. */
const REAL_DOCKER = (await $.which("docker")) ?? "/usr/bin/docker";

/** A `docker` first on PATH that stalls at one command. */
export interface DockerShim extends AsyncDisposable {
  /** The environment that puts the shim first on PATH. */
  env: Record<string, string>;
  /** Tells whether the CLI reached the stalling command. */
  reached(): Promise<boolean>;
}

/**
 * Makes a `docker` that runs the real one, except that at the command whose
 * arguments start with `stallAt` (e.g. `["commit"]`, `["image", "inspect"]`)
 * it stalls for a minute: before running it, or, with `after`, once the real
 * command has done its work (so the engine made what it makes, and the CLI
 * has not heard yet). Interrupting bot-bottle then lands at that point.
 */
export async function dockerShim(stallAt: string[], after = false): Promise<DockerShim> {
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-shim-" });
  const mark = join(dir, "reached");
  const match = stallAt.map((word, n) => `[ "\${${n + 1}:-}" = '${word}' ]`).join(" && ");
  await Deno.writeTextFile(
    join(dir, "docker"),
    [
      "#!/bin/sh",
      `if ${match}; then`,
      after ? `  '${REAL_DOCKER}' "$@" || exit $?` : "",
      `  : > '${mark}'`,
      "  exec sleep 60",
      "fi",
      `exec '${REAL_DOCKER}' "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return {
    env: { PATH: `${dir}:${Deno.env.get("PATH")}` },
    reached: () => Deno.lstat(mark).then(() => true, () => false),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Makes a `docker` that runs the real one, except that the command whose
 * arguments start with `failAt` (e.g. `["tag"]`) fails as the engine would,
 * with `Error response from daemon: injected failure` and exit status 1.
 */
export async function dockerFailure(failAt: string[]): Promise<DockerShim> {
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-shim-" });
  const mark = join(dir, "reached");
  const match = failAt.map((word, n) => `[ "\${${n + 1}:-}" = '${word}' ]`).join(" && ");
  await Deno.writeTextFile(
    join(dir, "docker"),
    [
      "#!/bin/sh",
      `if ${match}; then`,
      `  : > '${mark}'`,
      "  echo 'Error response from daemon: injected failure' >&2",
      "  exit 1",
      "fi",
      `exec '${REAL_DOCKER}' "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return {
    env: { PATH: `${dir}:${Deno.env.get("PATH")}` },
    reached: () => Deno.lstat(mark).then(() => true, () => false),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A Docker engine socket that can die. */
export interface EngineProxy extends AsyncDisposable {
  /** The environment that sends the docker CLI through it. */
  env: Record<string, string>;
  /** Whether it died. */
  readonly dead: boolean;
}

/**
 * Serves a socket that passes everything through to the real engine until
 * a request whose first line matches `dieAt` arrives (e.g. `/commit\?`):
 * that request is never delivered, and the engine is gone from then on, as
 * when `dockerd` stops. The real engine, which other tests use, keeps running.
 */
export async function engineProxy(dieAt: RegExp): Promise<EngineProxy> {
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-engine-" });
  const path = join(dir, "docker.sock");
  const listener = Deno.listen({ transport: "unix", path });
  const connections = new Set<Deno.Conn>();
  let dead = false;
  const die = () => {
    if (dead) return;
    dead = true;
    listener.close();
    for (const connection of connections) {
      try {
        connection.close();
      } catch {
        // Already closed.
      }
    }
  };
  const serve = async (client: Deno.UnixConn) => {
    connections.add(client);
    const engine = await Deno.connect({ transport: "unix", path: "/var/run/docker.sock" });
    connections.add(engine);
    const toClient = engine.readable.pipeTo(client.writable).catch(() => {});
    const writer = engine.writable.getWriter();
    try {
      for await (const chunk of client.readable) {
        const text = new TextDecoder().decode(chunk);
        if (dieAt.test(present(text.split("\r\n")[0])) || dead) {
          die();
          return;
        }
        await writer.write(chunk);
      }
    } catch {
      // The engine or the client went away.
    } finally {
      await writer.close().catch(() => {});
      await toClient;
      connections.delete(client);
      connections.delete(engine);
    }
  };
  (async () => {
    try {
      for await (const client of listener) serve(client);
    } catch {
      // The listener was closed: the engine died.
    }
  })();
  return {
    env: { DOCKER_HOST: `unix://${path}` },
    get dead() {
      return dead;
    },
    async [Symbol.asyncDispose]() {
      die();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Why mounting file systems fails here, or `undefined` when it works. */
export const noMountReason: string | undefined = await (async () => {
  if (Deno.build.os !== "linux") return "tmpfs and bind mounts need Linux";
  const dir = await Deno.makeTempDir();
  try {
    const mounted = await $`mount -t tmpfs -o size=64k tmpfs ${dir}`.quiet().noThrow();
    if (mounted.code !== 0) return `mount is not allowed here (${mounted.stderr.trim()})`;
    await $`umount ${dir}`.quiet().noThrow();
    return undefined;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
})();

/**
 * Declares a test that mounts file systems (root, CAP_SYS_ADMIN). Where it
 * cannot, it is reported as ignored with the reason in its name, except
 * under BOT_BOTTLE_REQUIRE_DOCKER=1 (CI), where it fails.
 */
export function mountTest(name: string, fn: () => Promise<void>): Deno.TestDefinition {
  const required = Deno.env.get("BOT_BOTTLE_REQUIRE_DOCKER") === "1";
  const ignore = noMountReason !== undefined && !required;
  return {
    name: ignore ? `${name} [ignored: ${noMountReason}]` : name,
    ignore,
    fn: async () => {
      if (noMountReason) throw new Error(`mounting is required here: ${noMountReason}`);
      await fn();
    },
  };
}

/** A mounted file system, unmounted when disposed. */
export interface Mount extends AsyncDisposable {
  /** Where it is mounted. */
  path: string;
}

/** Mounts a tmpfs of `bytes` bytes on a new directory. */
export async function tmpfs(bytes: number): Promise<Mount> {
  const path = await Deno.makeTempDir({ prefix: "bot-bottle-tmpfs-" });
  await $`mount -t tmpfs -o size=${String(bytes)},mode=0700 tmpfs ${path}`.quiet();
  return {
    path,
    async [Symbol.asyncDispose]() {
      await $`umount ${path}`.quiet();
      await Deno.remove(path);
    },
  };
}

/** Fills the file system at `dir` until it is full, with the file `name`. */
export async function fill(dir: string, name = "filler"): Promise<void> {
  await $`dd if=/dev/zero of=${join(dir, name)} bs=4096`.quiet().noThrow();
}

/** Makes `dir` read-only, for root too (a read-only bind mount onto itself). */
export async function readOnly(dir: string): Promise<Mount> {
  await $`mount --bind ${dir} ${dir}`.quiet();
  await $`mount -o remount,bind,ro ${dir}`.quiet();
  return {
    path: dir,
    async [Symbol.asyncDispose]() {
      await $`umount ${dir}`.quiet();
    },
  };
}
