/**
 * Progress for long transfers on a terminal: bytes, rate and time left,
 * drawn by dax's progress bar. Off the terminal (scripts, `--json`) it
 * draws nothing.
 *
 * @module
 */

import { dax } from "../_internal/dax.ts";
import type { Prompter } from "../prompter.ts";
import type { CliContext } from "./command.ts";
import { formatBytes } from "./table.ts";

/** Reports bytes done; `finish()` removes the bar. */
export interface ByteProgress {
  /** Called with bytes done and the total. */
  update(done: number, total: number): void;
  /** Removes the bar. */
  finish(): void;
}

/**
 * A progress bar labelled `label`, when standard error is a terminal.
 *
 * @param label What is being done, e.g. `"Exporting"`.
 * @param show Whether to draw at all (e.g. not with `--json`).
 */
export async function byteProgress(label: string, show: boolean): Promise<ByteProgress> {
  if (!show || !Deno.stderr.isTerminal()) return { update() {}, finish() {} };
  const $ = await dax();
  const bar = $.progress({ prefix: label }).kind("bytes");
  const started = performance.now();
  let last = 0;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      const left = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
      bar.length(total).position(done).message(
        `${formatBytes(rate)}/s` + (left === undefined ? "" : `, ${left} s left`),
      );
    },
    finish() {
      bar.finish();
    },
  };
}

/** One live line: what a command is doing and for how long. `finish()` removes it. */
export interface PhaseProgress {
  /** Records the step now running, e.g. the backend command. */
  phase(text: string): void;
  /** Writes a line for the user above the live line. */
  log(line: string): void;
  /**
   * The options through which an operation reports to the user, routed
   * around the live line: its log, its wait line, its `--verbose` hook (which
   * also names the phase: the backend command running), and its prompter.
   */
  around(
    context: CliContext,
    prompter: Prompter,
    log: ((line: string) => void) | undefined,
  ): {
    log?: (line: string) => void;
    onWait: (line: string) => void;
    onRun: (command: string) => void;
    prompter: Prompter;
  };
  /** Runs `ask` (a question to the user) with the live line out of its way. */
  suspended<T>(ask: () => Promise<T>): Promise<T>;
  /** Removes the line and stops. */
  finish(): void;
}

/** How long a command runs before its live line appears: 1 s (`BOT_BOTTLE_PROGRESS_AFTER_MS`). */
function progressDelay(): number {
  const raw = Deno.env.get("BOT_BOTTLE_PROGRESS_AFTER_MS");
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : 1000;
}

/**
 * A live line on standard error, `<label>: <phase> (<seconds> s)`, shown once
 * the command has run for a second and redrawn five times a second; nothing
 * when standard error is not a terminal or `show` is false (`--json`).
 *
 * @param label What is being done, e.g. `"committing dev-abc12"`.
 * @param show Whether to draw at all.
 * @param log Where lines for the user go.
 */
export function phaseProgress(
  label: string,
  show: boolean,
  log: (line: string) => void,
): PhaseProgress {
  if (!show || !Deno.stderr.isTerminal()) {
    const off: PhaseProgress = {
      phase() {},
      log,
      suspended: (ask) => ask(),
      around: (context, prompter, log) => ({
        ...log === undefined ? {} : { log },
        onWait: context.log,
        onRun: (command) => context.onRun(command),
        prompter,
      }),
      finish() {},
    };
    return off;
  }
  const encoder = new TextEncoder();
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  const started = performance.now();
  const delay = progressDelay();
  let phase = "starting";
  let drawn = false;
  let paused = false;
  const clear = () => {
    if (drawn) write("\r\x1b[2K");
    drawn = false;
  };
  const draw = () => {
    const elapsed = performance.now() - started;
    if (paused || elapsed < delay) return;
    const line = `${label}: ${phase} (${(elapsed / 1000).toFixed(1)} s)`;
    const width = Deno.consoleSize?.().columns ?? 80;
    write(`\r\x1b[2K${line.length >= width ? `${line.slice(0, width - 2)}…` : line}`);
    drawn = true;
  };
  const timer = setInterval(draw, 200);
  Deno.unrefTimer(timer);
  const above = (write: () => void) => {
    clear();
    write();
    draw();
  };
  return {
    around(context, prompter, log) {
      return {
        ...log ? { log: (line: string) => above(() => log(line)) } : {},
        onWait: (line) => above(() => context.log(line)),
        onRun: (command) => {
          phase = `running ${command.split(" ").slice(0, 2).join(" ")}`;
          above(() => context.onRun(command));
        },
        prompter: {
          confirm: (message, action) => this.suspended(() => prompter.confirm(message, action)),
          select: (message, options) => this.suspended(() => prompter.select(message, options)),
        },
      };
    },
    phase(text) {
      phase = text;
      draw();
    },
    log(line) {
      above(() => log(line));
    },
    async suspended(ask) {
      paused = true;
      clear();
      try {
        return await ask();
      } finally {
        paused = false;
      }
    },
    finish() {
      clearInterval(timer);
      clear();
    },
  };
}
