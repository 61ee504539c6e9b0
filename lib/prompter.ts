/**
 * Asking the user: confirmations and pickers on a terminal, with `--yes` and
 * a clear error (never a hang) where there is no terminal.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** Asks the user questions. */
export interface Prompter {
  /**
   * Asks a yes/no question.
   *
   * @param message The question, naming the consequence of a yes.
   * @param action What a yes would do, in a few words, for the one-line error
   * when there is no one to ask (`destroying bottle "dev" removes …`).
   * @returns `true` for yes.
   * @throws {UsageError} When there is no one to ask.
   */
  confirm(message: string, action?: string): Promise<boolean>;
  /**
   * Lets the user pick one of `options`.
   *
   * @param message What is being picked.
   * @param options The choices, as shown.
   * @returns The index of the choice, or `undefined` when the user gave up.
   * @throws {UsageError} When there is no one to ask.
   */
  select(message: string, options: readonly string[]): Promise<number | undefined>;
}

/** Options for {@linkcode terminalPrompter}. */
export interface TerminalPrompterOptions {
  /** Answer every confirmation with yes, without asking (`--yes`). */
  yes?: boolean;
  /** Whether a user sits at the terminal (default: stdin and stderr are terminals). */
  interactive?: boolean;
  /** Ends a question unanswered, rejecting with the signal's reason (Ctrl-C). */
  signal?: AbortSignal;
}

/**
 * A prompter that asks on the terminal, one plain line at a time: the
 * question on standard error, the answer a line on standard input. It needs
 * no terminal size (some `docker exec -t`, `ssh -t` and serial consoles
 * report 0 columns, where a drawn prompt shows nothing) and takes an answer
 * however it arrives, key by key or pasted at once (`n⏎`).
 *
 * @param options `yes` answers confirmations; without a terminal and without
 * `yes`, a confirmation throws a {@linkcode UsageError} telling the user to
 * pass `--yes`.
 * @returns The prompter.
 */
export function terminalPrompter(options: TerminalPrompterOptions = {}): Prompter {
  const interactive = options.interactive ?? (Deno.stdin.isTerminal() && Deno.stderr.isTerminal());
  const ask = (question: string) => askLine(question, options.signal);
  return {
    async confirm(message, action) {
      if (options.yes) return true;
      if (!interactive) {
        throw new UsageError(
          `${action ?? message}: pass --yes to confirm (there is no terminal to ask on)`,
        );
      }
      for (let prompt = `${message} [y/N] `;; prompt = "please answer y or n [y/N] ") {
        const answer = await ask(prompt);
        if (answer === undefined) return false;
        if (/^(y|yes)$/i.test(answer)) return true;
        if (/^(n|no)?$/i.test(answer)) return false;
      }
    },
    async select(message, choices) {
      if (!interactive) throw new UsageError(`${message}: no terminal to ask on`);
      const list = choices.map((choice, n) => `  ${n + 1}) ${choice}`).join("\n");
      const range = `1-${choices.length}, Enter for 1, q to give up`;
      for (let prompt = `${message}\n${list}\n[${range}] `;; prompt = `please type ${range}: `) {
        const answer = await ask(prompt);
        if (answer === undefined || /^q(uit)?$/i.test(answer)) return undefined;
        if (answer === "") return 0;
        const picked = Number(answer);
        if (Number.isInteger(picked) && picked >= 1 && picked <= choices.length) return picked - 1;
      }
    },
  };
}

/**
 * Writes `question` on standard error and reads one line from standard
 * input, in the terminal's line mode; `undefined` at the end of input.
 */
async function askLine(question: string, signal?: AbortSignal): Promise<string | undefined> {
  signal?.throwIfAborted();
  if (Deno.stdin.isTerminal()) Deno.stdin.setRaw(false);
  await Deno.stderr.write(new TextEncoder().encode(question));
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(1024);
  let line = "";
  let stop: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    stop = () => signal?.removeEventListener("abort", onAbort);
  });
  try {
    while (true) {
      const read = await Promise.race([Deno.stdin.read(buffer), aborted]);
      if (read === null) return line === "" ? undefined : line.trim();
      line += decoder.decode(buffer.subarray(0, read), { stream: true });
      const end = line.search(/[\r\n]/);
      if (end !== -1) return line.slice(0, end).trim();
    }
  } finally {
    stop?.();
  }
}
