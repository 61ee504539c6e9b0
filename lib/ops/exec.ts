/**
 * `exec`: runs a command (or a login shell) in a running bottle, attached to
 * this process's standard input, output and error.
 *
 * The bottle's lock is taken shared only to read its state and check that it
 * runs, and released before the command starts: a shell may stay open for
 * hours, and `commit`, `destroy` or another `exec` must not wait for it.
 *
 * @module
 */

import { BadInputError } from "../errors.ts";
import { openBottle, type OpenOptions } from "./open.ts";

/** Options of {@linkcode exec}. */
export interface ExecOptions extends OpenOptions {
  /** Give the command a terminal (default: whether stdin and stdout are terminals). */
  tty?: boolean;
}

/**
 * Runs `command` in the running bottle `slug`.
 *
 * @param slug The bottle's slug.
 * @param command The command and its arguments (empty: a login shell).
 * @param options Registry, state root, lock waiting, and whether to give it a terminal.
 * @returns The command's exit status.
 * @throws {BadInputError} When the bottle is unknown, stopped or absent (nothing was run).
 * @throws {BottleBusyError} When another process holds the lock and `wait` is `false`.
 */
export async function exec(
  slug: string,
  command: readonly string[],
  options: ExecOptions = {},
): Promise<number> {
  let backend;
  {
    await using bottle = await openBottle(slug, "exec", options, { shared: true });
    backend = bottle.backend;
    const status = await backend.bottleStatus(slug);
    if (status !== "running") {
      throw new BadInputError(
        `bottle "${slug}" is ${status === "absent" ? "not running (absent)" : "stopped"}; ` +
          `start it from its snapshot with "bot-bottle resume ${slug}", then exec again`,
      );
    }
  }
  const tty = options.tty ?? (Deno.stdin.isTerminal() && Deno.stdout.isTerminal());
  return await backend.execIn(slug, command, tty);
}

/**
 * The command that opens a shell in a running bottle, for hints after `start` and `resume`.
 *
 * @param slug The bottle's slug.
 */
export function shellHint(slug: string): string {
  return `bot-bottle exec ${slug}`;
}
