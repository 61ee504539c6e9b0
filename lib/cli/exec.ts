/**
 * `bot-bottle exec <slug> [--] [COMMAND…]`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";

/** `bot-bottle exec`. */
export const execCommand: CliCommand = {
  name: "exec",
  summary: "run a command, or a shell, in a running bottle",
  usage: "bot-bottle exec <slug> [options] [--] [COMMAND...]",
  description: [
    "Runs COMMAND in the running bot-bottle-<slug> through its backend, or a login shell",
    "(sh -l) when none is given. On a terminal it is interactive with a TTY (like",
    "docker exec -it); without one, stdin, stdout and stderr pass through. Exits with the",
    "command's status. Put -- before a command that has options of its own.",
  ].join("\n"),
  takesCommand: true,
  options: { ...WAIT_OPTIONS },
  async run({ values, positionals, rest }, context) {
    const [slug, ...words] = positionals;
    if (slug === undefined) {
      throw new UsageError(`exec takes a slug; run "bot-bottle exec --help" for usage`);
    }
    if (words.length > 0 && rest.length > 0) {
      throw new UsageError(
        `exec takes the command either after the slug or after "--", not both; ` +
          `run "bot-bottle exec --help" for usage`,
      );
    }
    const { exec } = await import("../ops/exec.ts");
    return await exec(slug, rest.length > 0 ? rest : words, lockingOptions(values, context));
  },
};
