/**
 * Asking the user: confirmations and pickers on a terminal, with `--yes` and
 * a clear error (never a hang) where there is no terminal.
 *
 * @module
 */

import { dax } from "./_internal/dax.ts";
import { UsageError } from "./errors.ts";

/** Asks the user questions. */
export interface Prompter {
  /**
   * Asks a yes/no question.
   *
   * @param message The question, naming the consequence of a yes.
   * @returns `true` for yes.
   * @throws {UsageError} When there is no one to ask.
   */
  confirm(message: string): Promise<boolean>;
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
}

/**
 * A prompter that asks on the terminal through dax.
 *
 * @param options `yes` answers confirmations; without a terminal and without
 * `yes`, a confirmation throws a {@linkcode UsageError} telling the user to
 * pass `--yes`.
 * @returns The prompter.
 */
export function terminalPrompter(options: TerminalPrompterOptions = {}): Prompter {
  const interactive = options.interactive ?? (Deno.stdin.isTerminal() && Deno.stderr.isTerminal());
  return {
    async confirm(message) {
      if (options.yes) return true;
      if (!interactive) {
        throw new UsageError(`${message}: no terminal to ask on; pass --yes to answer yes`);
      }
      const $ = await dax();
      return await $.maybeConfirm({ message, default: false, noClear: true }) ?? false;
    },
    async select(message, choices) {
      if (!interactive) throw new UsageError(`${message}: no terminal to ask on`);
      const $ = await dax();
      const picked = await $.maybeSelect({ message, options: [...choices], noClear: true });
      return picked?.index;
    },
  };
}
