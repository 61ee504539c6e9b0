/**
 * Shell completion scripts (bash, zsh, fish) for the CLI, generated from the
 * command definitions: every subcommand, every option (the common ones too),
 * and what a command's operand is, read from its usage line. Slugs are not
 * written into a script: it asks `bot-bottle completions --slugs` each time,
 * so they are the bottles known at that moment.
 *
 * @module
 */

import { type CliCommand, COMMON_OPTIONS } from "./command.ts";
import type { CommandSpec, Completion } from "./_completion_spec.ts";
import { bashScript } from "./_completion_bash.ts";
import { zshScript } from "./_completion_zsh.ts";
import { fishScript } from "./_completion_fish.ts";

export type { Completion };

/** The shells {@linkcode completionScript} writes for. */
export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@linkcode COMPLETION_SHELLS}. */
export type CompletionShell = typeof COMPLETION_SHELLS[number];

/** Options for {@linkcode completionScript}. */
export interface CompletionScriptOptions {
  /**
   * The values an option takes, by its long name (e.g. `backend`: the
   * registry's backends). Without an entry, an option whose value is named
   * `file` completes file names and any other completes nothing.
   */
  optionValues?: Readonly<Record<string, readonly string[]>>;
}

/**
 * What a command's first operand completes to, read from its usage line:
 * the first `<placeholder>` that is not an option's value. `<slug>` gives the
 * bottles' slugs, `<file>` file names, `<a|b|c>` those words; anything else,
 * or no placeholder, nothing.
 *
 * @param command The command.
 * @returns What its operand completes to.
 * @example
 * ```ts
 * import { operandCompletion } from "./completion_scripts.ts";
 * import { exportCommand } from "./export.ts";
 * operandCompletion(exportCommand); // "slug", from "bot-bottle export <slug> [--at <id|~N>] …"
 * ```
 */
export function operandCompletion(command: CliCommand): Completion {
  const operands = command.usage.replace(/-{1,2}[A-Za-z][\w-]* <[^>]*>/g, "");
  const placeholder = operands.match(/<([^>]*)>/)?.[1];
  if (placeholder === "slug" || placeholder === "file") return placeholder;
  const words = placeholder?.split("|") ?? [];
  return words.length > 1 && words.every((word) => /^[a-z][a-z0-9-]*$/.test(word))
    ? words
    : undefined;
}

function commandSpec(command: CliCommand, options: CompletionScriptOptions): CommandSpec {
  return {
    name: command.name,
    summary: command.summary,
    operand: operandCompletion(command),
    takesCommand: command.takesCommand === true,
    options: Object.entries({ ...command.options, ...COMMON_OPTIONS }).map(([long, spec]) => {
      const takesValue = spec.type === "string";
      const valueName = spec.valueName ?? "value";
      return {
        long,
        ...spec.short === undefined ? {} : { short: spec.short },
        takesValue,
        multiple: spec.multiple === true,
        valueName,
        description: spec.description,
        values: !takesValue
          ? undefined
          : options.optionValues?.[long] ?? (valueName === "file" ? "file" : undefined),
      };
    }),
  };
}

/**
 * Writes the completion script for `shell`.
 *
 * @param shell `bash`, `zsh` or `fish`.
 * @param commands The CLI's commands, in the order to offer them.
 * @param options What options' values complete to.
 * @returns The script, to be sourced by (or installed for) that shell.
 * @example
 * ```ts
 * import { completionScript } from "./completion_scripts.ts";
 * import { COMMANDS } from "./commands.ts";
 * await Deno.writeTextFile("bot-bottle.bash", completionScript("bash", COMMANDS));
 * ```
 */
export function completionScript(
  shell: CompletionShell,
  commands: readonly CliCommand[],
  options: CompletionScriptOptions = {},
): string {
  const specs = commands.map((command) => commandSpec(command, options));
  switch (shell) {
    case "bash":
      return bashScript(specs);
    case "zsh":
      return zshScript(specs);
    case "fish":
      return fishScript(specs);
  }
}
