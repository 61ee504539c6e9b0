// Runs the CLI (main.ts) as a subprocess, as a user would.

/** The CLI's entry point. */
export const MAIN: string = new URL("../../main.ts", import.meta.url).pathname;

// The subprocess gets another HOME, so it must be told where Deno's cache is.
const DENO_DIR = Deno.env.get("DENO_DIR") ||
  `${Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`}/deno`;

/**
 * The environment a CLI subprocess runs with: only `PATH`, Deno's cache and
 * no colours, plus `env` (e.g. `HOME` from a temp home).
 */
export function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR, NO_COLOR: "1", ...env };
}

/** What a CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A main.ts ...args` with a clean environment: only `PATH`
 * and the given variables (e.g. `HOME` from a temp home).
 */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  options: { stdin?: string } = {},
): Promise<CliRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, ...args],
    env: cliEnv(env),
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
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
