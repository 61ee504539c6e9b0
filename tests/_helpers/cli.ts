// Runs the CLI (main.ts) as a subprocess, as a user would.

import { reducedEnv } from "./env.ts";

/** The CLI's entry point. */
export const MAIN: string = new URL("../../main.ts", import.meta.url).pathname;

/** Deno's cache: a subprocess gets another HOME, so it must be told where the cache is. */
export const DENO_DIR: string = Deno.env.get("DENO_DIR") ||
  `${Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`}/deno`;

/**
 * The environment a CLI subprocess runs with: only `PATH`, Deno's cache, no
 * colours and what reaching the network needs ({@linkcode reducedEnv}), plus
 * `env` (e.g. `HOME` from a temp home).
 */
export function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  return reducedEnv({
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    DENO_DIR,
    NO_COLOR: "1",
    ...env,
  });
}

/** What a CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A CLI run in progress, e.g. to interrupt it. */
export interface RunningCli {
  /** The `deno` process running main.ts. */
  child: Deno.ChildProcess;
  /** Waits for it to end. */
  done: Promise<CliRun>;
}

/**
 * Starts `deno run -A main.ts ...args` with a clean environment: only `PATH`,
 * Deno's cache and the given variables (e.g. `HOME` from a temp home), and
 * `input` on its stdin (default: none, stdin is `/dev/null`).
 */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): RunningCli {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, ...args],
    env: cliEnv(env),
    clearEnv: true,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    writer.write(new TextEncoder().encode(input)).then(() => writer.close()).catch(() => {});
  }
  const decoder = new TextDecoder();
  const done = child.output().then((output) => ({
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  }));
  return { child, done };
}

/** Runs the CLI (see {@linkcode startCli}), with `input` on its stdin, and waits for it. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<CliRun> {
  return startCli(args, env, input).done;
}

/**
 * Sends `signal` to a running CLI once `ready()` holds (polled every 50 ms,
 * up to 30 s), as a terminal's Ctrl-C or a supervisor's SIGTERM would, and
 * waits for it to end.
 */
export async function interruptWhen(
  running: RunningCli,
  ready: () => Promise<boolean>,
  signal: "SIGINT" | "SIGTERM" = "SIGINT",
): Promise<CliRun> {
  for (let waited = 0; !(await ready()); waited += 50) {
    if (waited > 30_000) throw new Error("the CLI never reached the point to interrupt");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Let the backend command get going before interrupting it.
  await new Promise((resolve) => setTimeout(resolve, 300));
  running.child.kill(signal);
  return await running.done;
}

/**
 * Parses the output of `commit --json`, checks that its `snapshotId` is a
 * snapshot id (`YYYYMMDDTHHMMSSZ`), and returns the rest for comparison.
 */
export function commitJson(stdout: string): Record<string, unknown> {
  const { snapshotId, ...rest } = JSON.parse(stdout);
  if (!/^\d{8}T\d{6}Z(-\d+)?$/.test(snapshotId)) {
    throw new Error(`commit --json gave no snapshot id: ${stdout}`);
  }
  return rest;
}
