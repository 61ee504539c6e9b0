// Runs the CLI in a pseudo-terminal (util-linux `script`), typing answers
// when prompts appear, as a user at a terminal would.

import { cliEnv, MAIN } from "./cli.ts";

/**
 * Whether `script` is available to make a pseudo-terminal (CI, which sets
 * BOT_BOTTLE_REQUIRE_DOCKER=1, installs it and fails without it).
 */
export const hasTerminal: boolean = Deno.env.get("BOT_BOTTLE_REQUIRE_DOCKER") === "1" ||
  await new Deno.Command("script", {
    args: ["--version"],
    stdout: "null",
    stderr: "null",
  }).output().then((output) => output.success, () => false);

/** What the terminal showed (escape sequences removed) and the exit status. */
export interface TerminalRun {
  code: number;
  screen: string;
}

/** How the pseudo-terminal behaves. */
export interface TerminalOptions {
  /** Its width: 120 by default; 0 is a terminal that reports no size. */
  cols?: number;
  /** Send each answer's keys in one write, as a paste or an automation tool does. */
  oneRead?: boolean;
}

/**
 * Runs `bot-bottle ...args` on a pseudo-terminal. Each time the screen shows
 * the next answer's prompt, its keys are typed (one at a time, or at once
 * with `oneRead`).
 */
export async function runOnTerminal(
  args: string[],
  env: Record<string, string>,
  answers: { prompt: string; keys: string }[],
  { cols = 120, oneRead = false }: TerminalOptions = {},
): Promise<TerminalRun> {
  const quoted = [Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args]
    .map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", `stty cols ${cols} rows ${cols === 0 ? 0 : 40}; exec ${quoted}`, "/dev/null"],
    env: cliEnv({ TERM: "xterm", ...env }),
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const decoder = new TextDecoder();
  let screen = "";
  let seen = 0;
  const pending = [...answers];
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      screen += decoder.decode(chunk, { stream: true });
      const next = pending[0];
      if (next && screen.indexOf(next.prompt, seen) !== -1) {
        seen = screen.indexOf(next.prompt, seen) + next.prompt.length;
        pending.shift();
        // One key at a time (or all at once), once the prompt is up.
        for (const key of oneRead ? [next.keys] : next.keys) {
          await new Promise((resolve) => setTimeout(resolve, 150));
          await writer.write(new TextEncoder().encode(key)).catch(() => {});
        }
      }
    }
  })();
  const timer = setTimeout(() => child.kill(), 60_000);
  const status = await child.status;
  clearTimeout(timer);
  await reading;
  await writer.close().catch(() => {});
  await child.stderr.cancel();
  // deno-lint-ignore no-control-regex
  return { code: status.code, screen: screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "") };
}
