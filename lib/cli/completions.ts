/**
 * `bot-bottle completions <bash|zsh|fish>`.
 *
 * @module
 */

import { COMPLETION_SHELLS, completionScript, type CompletionShell } from "./completion_scripts.ts";
import { UsageError } from "../errors.ts";
import type { CliCommand } from "./command.ts";

const SHELLS: readonly string[] = COMPLETION_SHELLS;

/**
 * `bot-bottle completions`, completing `commands` (the CLI's, itself
 * included: a function, as the list names this command).
 *
 * @param commands The CLI's commands.
 * @returns The command.
 */
export function completionsCommand(commands: () => readonly CliCommand[]): CliCommand {
  return {
    name: "completions",
    summary: "print a shell completion script (bash, zsh or fish)",
    usage: `bot-bottle completions <${COMPLETION_SHELLS.join("|")}>`,
    description: [
      "Prints a completion script for the shell: the commands, their options, the backends for",
      "--backend, and the slugs of the known bottles (asked for at each completion, with",
      "--slugs). Bash: source <(bot-bottle completions bash), or save it as",
      "~/.local/share/bash-completion/completions/bot-bottle. Zsh: save it as _bot-bottle in a",
      "directory on $fpath. Fish: save it as ~/.config/fish/completions/bot-bottle.fish.",
    ].join("\n"),
    options: {
      slugs: {
        type: "boolean",
        description: "print the slugs of the known bottles, one a line (the scripts use it)",
      },
    },
    async run({ values, positionals }, context) {
      if (values.slugs) {
        if (positionals.length > 0) {
          throw new UsageError(
            `completions --slugs takes no arguments; run "bot-bottle completions --help" for usage`,
          );
        }
        const { listStateSlugs, stateRoot } = await import("../state/bottle_state.ts");
        for (const slug of await listStateSlugs(stateRoot())) context.print(slug);
        return;
      }
      const shell = positionals[0];
      if (shell === undefined || positionals.length !== 1 || !SHELLS.includes(shell)) {
        throw new UsageError(
          `completions takes one shell, ${COMPLETION_SHELLS.join(", ")}; got ${
            positionals.length === 0 ? "none" : positionals.map((word) => `"${word}"`).join(" ")
          }; run "bot-bottle completions --help" for usage`,
        );
      }
      const { loadRegistry } = await import("../registry/registry.ts");
      const registry = await loadRegistry();
      const script = completionScript(shell as CompletionShell, commands(), {
        optionValues: { backend: [...registry.backends.keys()] },
      });
      context.print(script.trimEnd());
    },
  };
}
