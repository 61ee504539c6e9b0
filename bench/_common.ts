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
 * `argv` as every timed subprocess runs: from the repository root, with
 * `env` alone, no stdin, stderr piped, and stdout piped or discarded.
 */
export function rootCommand(
  env: Record<string, string>,
  argv: readonly string[],
  stdout: "piped" | "null" = "piped",
): Deno.Command {
  const [program, args] = programOf(argv);
  return new Deno.Command(program, {
    args,
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout,
    stderr: "piped",
  });
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
  const command = rootCommand(env, argv);
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

/** GNU time, which reports the peak resident set of what it runs. */
export const TIME = "/usr/bin/time";

/** One measured subprocess. */
export interface Measured {
  /** Wall time, in ms. */
  ms: number;
  /** Peak resident set of the process tree `/usr/bin/time` waited for, in KiB. */
  maxRssKiB: number;
  /**
   * The highest `VmHWM` seen per process name (e.g. `deno`, `docker`), in KiB;
   * under {@linkcode TOP} that of the command itself (the tool, not the
   * programs it runs, which may be Deno scripts too).
   */
  hwmKiB: Map<string, number>;
}

/** Writes a tree of `mb` MiB of small files under `dir`, as a bottle's files might be. */
export async function writeTree(dir: string, mb: number): Promise<void> {
  const words = [
    "const",
    "function",
    "return",
    "require",
    "module",
    "exports",
    "if",
    "else",
    "this",
    "value",
    "options",
    "callback",
    "undefined",
    "null",
    "true",
    "false",
    "length",
    "push",
    "prototype",
    "Object",
    "Array",
    "String",
    "error",
    "result",
    "index",
    "data",
    "buffer",
  ];
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const encoder = new TextEncoder();
  let written = 0;
  const made = new Set<string>();
  for (let n = 0; written < mb * 1024 * 1024; n++) {
    const library = n % 10 === 0;
    const sub = `${dir}/${library ? "usr/lib" : "node_modules"}/p${Math.floor(n / 50)}`;
    if (!made.has(sub)) {
      await Deno.mkdir(sub, { recursive: true });
      made.add(sub);
    }
    let bytes: Uint8Array;
    if (library) {
      // A binary: half random, half zero padding and tables, 20 KiB–1 MiB.
      bytes = new Uint8Array(20 * 1024 + Math.floor(random() * 1004 * 1024));
      crypto.getRandomValues(bytes.subarray(0, Math.min(65536, bytes.length >> 1)));
      for (let at = 65536; at < bytes.length >> 1; at += 65536) {
        crypto.getRandomValues(bytes.subarray(at, Math.min(at + 65536, bytes.length >> 1)));
      }
    } else {
      // A source file: 200 B–24 KiB of JavaScript-like text.
      const size = 200 + Math.floor(random() ** 2 * 24 * 1024);
      let text = "";
      while (text.length < size) {
        text += words[Math.floor(random() * words.length)] +
          (random() < 0.1
            ? ";\n"
            : random() < 0.2
            ? "(" + Math.floor(random() * 1000) + ") "
            : " ");
      }
      bytes = encoder.encode(text);
    }
    await Deno.writeFile(`${sub}/f${n}${library ? ".so" : ".js"}`, bytes);
    written += bytes.length;
  }
}

/** The wall time of `argv`, with its stdout discarded. Throws when it fails. */
export async function wall(argv: string[]): Promise<number> {
  const start = performance.now();
  const [program, args] = programOf(argv);
  const output = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`${argv.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return performance.now() - start;
}

/**
 * Runs `argv` from the repository root under `/usr/bin/time -f %M`, polling
 * the `VmHWM` of every process below it. Throws when it fails.
 */
export async function measure(env: Record<string, string>, argv: string[]): Promise<Measured> {
  const timeFile = await Deno.makeTempFile({
    ...env.TMPDIR === undefined ? {} : { dir: env.TMPDIR },
    prefix: "time-",
  });
  try {
    const command = rootCommand(env, [TIME, "-f", "%M", "-o", timeFile, ...argv]);
    const start = performance.now();
    const child = command.spawn();
    const hwmKiB = new Map<string, number>();
    let done = false;
    const output = child.output().finally(() => done = true);
    while (!done) {
      await pollHwm(child.pid, hwmKiB);
      await Promise.race([output, new Promise((resolve) => setTimeout(resolve, 50))]);
    }
    const result = await output;
    const elapsed = performance.now() - start;
    if (!result.success) {
      const stderr = new TextDecoder().decode(result.stderr).trim();
      throw new Error(`${argv.join(" ")} failed (${result.code}): ${stderr}`);
    }
    const maxRssKiB = Number((await Deno.readTextFile(timeFile)).trim().split("\n").at(-1));
    if (!Number.isFinite(maxRssKiB) || maxRssKiB <= 0) {
      throw new Error(`cannot read the peak memory of ${argv.join(" ")} from ${TIME}`);
    }
    return { ms: elapsed, maxRssKiB, hwmKiB };
  } finally {
    await Deno.remove(timeFile).catch(() => {});
  }
}

/** The key of {@linkcode Measured.hwmKiB} for the measured command's own process. */
export const TOP = "<top>";

/**
 * Records the `VmHWM` of every descendant of `pid`, by process name, and that
 * of its children (the command `/usr/bin/time` runs) under {@linkcode TOP}.
 */
async function pollHwm(pid: number, hwmKiB: Map<string, number>, depth = 0): Promise<void> {
  const read = (path: string) => Deno.readTextFile(path).catch(() => "");
  const raise = (key: string, kib: number) => hwmKiB.set(key, Math.max(hwmKiB.get(key) ?? 0, kib));
  for (const child of (await read(`/proc/${pid}/task/${pid}/children`)).split(" ")) {
    if (child.trim() === "") continue;
    const status = await read(`/proc/${child}/status`);
    const name = status.match(/^Name:\s*(\S+)/m)?.[1];
    const hwm = Number(status.match(/^VmHWM:\s*(\d+) kB/m)?.[1]);
    if (name && Number.isFinite(hwm)) {
      raise(name, hwm);
      if (depth === 0) raise(TOP, hwm);
    }
    await pollHwm(Number(child), hwmKiB, depth + 1);
  }
}

/** 10^6 bytes. */
export const MB = 1e6;

/** Seconds, with one decimal. */
export const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** `min–max` in seconds, or the one value. */
export const secondsRange = (values: number[]) =>
  values.length === 1
    ? seconds(nth(values, 0))
    : `${seconds(Math.min(...values))}–${seconds(Math.max(...values))}`;

/** KiB as MB (10^6 bytes), whole. */
export const mbOfKiB = (kib: number) => ((kib * 1024) / MB).toFixed(0);

/** The peak of `values` (KiB) as MB: the median, and the maximum when there are several. */
export const peak = (values: number[]) =>
  values.length === 0
    ? "—"
    : values.length === 1
    ? mbOfKiB(nth(values, 0))
    : `${mbOfKiB(median(values))} (max ${mbOfKiB(Math.max(...values))})`;
