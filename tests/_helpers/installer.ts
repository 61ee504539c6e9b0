// Runs install.sh and the Dev Container Feature's install.sh as a user or the
// devcontainer tooling would: under a given shell, with a PATH made of only
// the tools a test allows, and a private TMPDIR and install directory per
// test, removed afterwards (`await using`).

import { join } from "node:path";
import { reducedEnv } from "./env.ts";
import { snapshotTree } from "./temp_home.ts";

/** The installer at the repository root. */
export const INSTALL_SH: string = new URL("../../install.sh", import.meta.url).pathname;

/** The Dev Container Feature's folder (its build context). */
export const FEATURE_DIR: string = new URL("../../features/bot-bottle", import.meta.url).pathname;

/** The tools install.sh needs besides a downloader (curl or wget) and a SHA-256 tool. */
export const BASE_TOOLS: readonly string[] = [
  "awk",
  "cat",
  "chmod",
  "cp",
  "grep",
  "head",
  "id",
  "mkdir",
  "mktemp",
  "mv",
  "rm",
  "sh",
  "tail",
  "tr",
  "uname",
];

/** The absolute path of `name` on this machine's PATH, or `undefined`. */
export function hostTool(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    const path = join(dir, name);
    try {
      const info = Deno.statSync(path);
      if (info.isFile && (info.mode ?? 0) & 0o111) return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** dash, the shell the installer tests run under (Debian: `apt-get install dash`). */
export const DASH: string | undefined = hostTool("dash");

/** What a shell run printed and returned. */
export interface ShellRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A test's own install target, TMPDIR, HOME and PATH, removed when disposed. */
export interface InstallSandbox extends AsyncDisposable {
  /** The sandbox's root. */
  root: string;
  /** Where the tests install: `<root>/bin`, not created until a test (or the installer) does. */
  dir: string;
  /** The installer's TMPDIR. */
  tmp: string;
  /** The installer's HOME. */
  home: string;
  /** The only directory on the installer's PATH. */
  tools: string;
  /** Links the host's `names` into {@linkcode tools}; fails when one is missing. */
  addTools(...names: string[]): Promise<void>;
  /** Writes an executable script `name` into {@linkcode tools} (a fake `uname`, …). */
  addScript(name: string, text: string): Promise<void>;
  /** The environment to run with: `PATH`, `HOME`, `TMPDIR`, plus `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Every file under {@linkcode dir} (name → content); `{}` when it does not exist. */
  installed(): Promise<Record<string, string>>;
  /** Every file left under {@linkcode tmp}. */
  leftovers(): Promise<Record<string, string>>;
}

/**
 * Makes a sandbox whose PATH holds {@linkcode BASE_TOOLS} and `tools`
 * (e.g. `curl`, `sha256sum`), linked from this machine.
 */
export async function installSandbox(...tools: string[]): Promise<InstallSandbox> {
  const root = await Deno.makeTempDir({ prefix: "bot-bottle-install-test-" });
  const sandbox: InstallSandbox = {
    root,
    dir: join(root, "bin"),
    tmp: join(root, "tmp"),
    home: join(root, "home"),
    tools: join(root, "tools"),
    async addTools(...names) {
      for (const name of names) {
        const path = hostTool(name);
        if (!path) throw new Error(`the tests need "${name}" on PATH (Debian: apt-get install it)`);
        await Deno.remove(join(sandbox.tools, name)).catch(() => {});
        await Deno.symlink(path, join(sandbox.tools, name));
      }
    },
    async addScript(name, text) {
      await Deno.remove(join(sandbox.tools, name)).catch(() => {});
      await Deno.writeTextFile(join(sandbox.tools, name), text, { mode: 0o755 });
    },
    env(extra = {}) {
      return { PATH: sandbox.tools, HOME: sandbox.home, TMPDIR: sandbox.tmp, ...extra };
    },
    installed: () => snapshotTree(sandbox.dir),
    leftovers: () => snapshotTree(sandbox.tmp),
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true });
    },
  };
  for (const path of [sandbox.tmp, sandbox.home, sandbox.tools]) await Deno.mkdir(path);
  await sandbox.addTools(...BASE_TOOLS, ...tools);
  return sandbox;
}

/** A fake `uname` reporting `os` for `-s` and `arch` for `-m`. */
export function fakeUname(os: string, arch: string): string {
  return `#!/bin/sh\ncase "$1" in -m) echo ${arch} ;; *) echo ${os} ;; esac\n`;
}

/** Options of {@linkcode runShell}. */
export interface RunOptions {
  /** The whole environment (nothing else is inherited but what the network needs: {@linkcode reducedEnv}). */
  env: Record<string, string>;
  /** The working directory. */
  cwd?: string;
  /** Text on standard input (e.g. the script, for `sh -s`); none when absent. */
  stdin?: string;
  /** Called with the process once started (e.g. to interrupt it). */
  started?: (child: Deno.ChildProcess) => void;
}

/** Runs `program args…` with exactly `options.env` and waits for it. */
export async function runShell(
  program: string,
  args: string[],
  options: RunOptions,
): Promise<ShellRun> {
  const child = new Deno.Command(program, {
    args,
    env: reducedEnv(options.env),
    clearEnv: true,
    ...options.cwd === undefined ? {} : { cwd: options.cwd },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  options.started?.(child);
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs install.sh under dash (`dash install.sh args…`). */
export function runInstaller(args: string[], options: RunOptions): Promise<ShellRun> {
  if (!DASH) throw new Error("the installer tests need dash (Debian: apt-get install dash)");
  return runShell(DASH, [INSTALL_SH, ...args], options);
}

async function whyNoPrivateMounts(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "private mount namespaces need Linux";
  const unshare = hostTool("unshare");
  if (!unshare) return "unshare (util-linux) is not installed";
  const probe = await new Deno.Command(unshare, {
    args: ["--mount", "sh", "-c", "mount --bind /tmp /usr/local/bin"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (probe.code !== 0) {
    const reason = new TextDecoder().decode(probe.stderr).trim().split("\n").at(-1);
    return `cannot bind-mount over /usr/local/bin in a private mount namespace (${reason})`;
  }
  return undefined;
}

/**
 * Why {@linkcode withPrivateMounts} cannot run here (not root, not Linux, no
 * unshare), or `undefined` when it can.
 */
export const noPrivateMountsReason: string | undefined = await whyNoPrivateMounts();

/**
 * The argv that runs `argv` in a private mount namespace where each system
 * path in `mounts` (e.g. `/usr/local/bin`) is the test's directory it maps
 * to: the real paths, as root, without touching this machine's.
 */
export function withPrivateMounts(mounts: Record<string, string>, argv: string[]): string[] {
  const mount = hostTool("mount");
  const binds = Object.keys(mounts).map((target, i) => `${mount} --bind "$${i + 1}" ${target} && `)
    .join("");
  const count = Object.keys(mounts).length;
  return [
    hostTool("unshare")!,
    "--mount",
    hostTool("sh")!,
    "-c",
    `${binds}shift ${count} && exec "$@"`,
    "sh",
    ...Object.values(mounts),
    ...argv,
  ];
}
