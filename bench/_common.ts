/**
 * Small utilities shared by the benchmarks: the sample count, statistics,
 * progress lines, and timed subprocesses run from the repository root.
 *
 * @module
 */

/** The repository root, with a trailing slash. */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/** The Deno executable running the bench, for the tool's subprocesses. */
export const DENO: string = Deno.execPath();

/** Timed runs per case: BENCH_RUNS, else `fallback`. */
export function runsFor(fallback: number): number {
  const raw = Deno.env.get("BENCH_RUNS");
  if (raw === undefined || raw === "") return fallback;
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`BENCH_RUNS must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return runs;
}

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle];
  const lower = sorted.length % 2 ? upper : sorted[middle - 1];
  return upper === undefined || lower === undefined ? NaN : (lower + upper) / 2;
}

/**
 * The item at `index` of `items`, which the bench laid out itself.
 *
 * @throws {RangeError} When there is none: the bench's tables and runs disagree.
 */
export function nth<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new RangeError(`no item ${index} among ${items.length}`);
  return item;
}

/** Splits an argv into its program and arguments; an empty one is a bench's mistake. */
export function programOf(argv: readonly string[]): [string, string[]] {
  const [program, ...args] = argv;
  if (program === undefined) throw new TypeError("an empty command line");
  return [program, args];
}

/** Milliseconds, rounded to whole ms. */
export function ms(value: number): string {
  return value.toFixed(0);
}

/** `min–max` of `values`, in whole ms. */
export function range(values: number[]): string {
  return `${ms(Math.min(...values))}–${ms(Math.max(...values))}`;
}

/** A progress line on stderr. */
export function progress(line: string): void {
  console.error(`bench: ${line}`);
}

/** The environment of every timed subprocess, bare or tool: HOME is the temp home. */
export function childEnv(home: string): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) if (name.startsWith("BOT_BOTTLE_")) delete env[name];
  // The subprocess gets another HOME, so it must be told where Deno's cache is.
  const denoDir = env.DENO_DIR || `${env.XDG_CACHE_HOME || `${env.HOME}/.cache`}/deno`;
  return { ...env, HOME: home, DENO_DIR: denoDir, NO_COLOR: "1" };
}

/** What {@linkcode timed} measured. */
export interface Timed {
  /** Wall time around the subprocess, in ms. */
  ms: number;
  /** Its exit code. */
  code: number;
  /** Its stdout. */
  stdout: string;
  /** Its stderr. */
  stderr: string;
}

/**
 * Runs a command from the repository root; returns its wall time in ms and
 * its output. Throws when it fails, unless `mayFail` is set.
 */
export async function timed(
  env: Record<string, string>,
  argv: string[],
  { mayFail = false }: { mayFail?: boolean } = {},
): Promise<Timed> {
  const [program, args] = programOf(argv);
  const command = new Deno.Command(program, {
    args,
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const start = performance.now();
  const output = await command.output();
  const elapsed = performance.now() - start;
  const decoder = new TextDecoder();
  const stderr = decoder.decode(output.stderr);
  if (!output.success && !mayFail) {
    throw new Error(`${argv.join(" ")} failed (${output.code}): ${stderr.trim()}`);
  }
  return { ms: elapsed, code: output.code, stdout: decoder.decode(output.stdout), stderr };
}
