/**
 * What a subcommand of the CLI declares: its options (for parsing and for
 * help) and what it runs.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";

/** One option of a command. */
export interface CliOption {
  /** `boolean` for a flag, `string` for an option that takes a value. */
  type: "boolean" | "string";
  /** A one-letter alias. */
  short?: string;
  /** The value's name in help, for string options. */
  valueName?: string;
  /** The option may be given many times; its value is then a list. */
  multiple?: boolean;
  /** One line for the help. */
  description: string;
}

/** What every command gets besides its arguments. */
export interface CliContext {
  /** Aborted when the user interrupts (Ctrl-C, SIGTERM); its reason is an `Interrupted`. */
  signal: AbortSignal;
  /** Shows each backend command before it runs, with `--verbose`; does nothing without. */
  onRun(command: string): void;
  /** Writes a line for the user on standard error. */
  log(line: string): void;
  /** Writes a line of output on standard output (for scripts). */
  print(line: string): void;
}

/** Parsed arguments. */
export interface CliInput {
  /** Option values by long name (a list for `multiple` options). */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Positional arguments before `--`. */
  positionals: string[];
  /** Everything after `--`, as it is (e.g. a command to run). */
  rest: string[];
}

/** A subcommand. */
export interface CliCommand {
  /** The word that selects it, e.g. `commit`. */
  name: string;
  /** One line for the overall help. */
  summary: string;
  /** The usage line, e.g. `bot-bottle commit [<slug>] [options]`. */
  usage: string;
  /** A paragraph for the command's help. */
  description: string;
  /** Whether what follows `--` is a command to run (else it is more positionals). */
  takesCommand?: boolean;
  /** Its options, by long name (the common ones are added). */
  options: Record<string, CliOption>;
  /** Runs it; a number is the exit status to end with (e.g. `exec`'s command's), else 0. */
  run(input: CliInput, context: CliContext): Promise<void | number>;
}

/** Options every command takes. */
export const COMMON_OPTIONS: Record<string, CliOption> = {
  verbose: {
    type: "boolean",
    short: "v",
    description: "show every backend command, and a failed command's full output",
  },
  help: { type: "boolean", short: "h", description: "show this help" },
};

/** The option of every command that locks its bottle. */
export const WAIT_OPTIONS: Record<string, CliOption> = {
  "no-wait": {
    type: "boolean",
    description: "fail at once, naming the other process, if it is working on the same bottle",
  },
};

/**
 * The options every command that locks its bottle passes on: `--no-wait`,
 * the waiting line (always on stderr, `--json` or not), the interrupt signal
 * and the `--verbose` hook.
 *
 * @param values The parsed option values.
 * @param context The CLI context.
 * @returns Options for the operation.
 */
export function lockingOptions(values: CliInput["values"], context: CliContext): {
  wait: boolean;
  onWait: (line: string) => void;
  signal: AbortSignal;
  onRun: (command: string) => void;
} {
  return {
    wait: values["no-wait"] !== true,
    onWait: context.log,
    signal: context.signal,
    onRun: context.onRun,
  };
}

/**
 * Parses a command's arguments.
 *
 * @param command The command.
 * @param args The arguments after the command's name.
 * @returns The parsed values and positionals.
 * @throws {UsageError} On an unknown option or a missing value.
 */
export function parseCommandArgs(command: CliCommand, args: string[]): CliInput {
  const options = { ...command.options, ...COMMON_OPTIONS };
  const dashes = command.takesCommand ? args.indexOf("--") : -1;
  const rest = dashes === -1 ? [] : args.slice(dashes + 1);
  try {
    const { values, positionals } = parseArgs({
      args: dashes === -1 ? args : args.slice(0, dashes),
      options: Object.fromEntries(
        Object.entries(options).map(([name, option]) => [
          name,
          {
            type: option.type,
            ...(option.short ? { short: option.short } : {}),
            ...(option.multiple ? { multiple: true } : {}),
          },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
    return { values: values as CliInput["values"], positionals, rest };
  } catch (error) {
    if (error instanceof TypeError && "code" in error) {
      const option = error.message.match(/'(-[^']*)'/)?.[1];
      const problem = error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option
        ? `unknown option "${option}" for "${command.name}"`
        : error.message.replace(/\.$/, "");
      throw new UsageError(`${problem}; run "bot-bottle ${command.name} --help" for usage`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Renders a command's help.
 *
 * @param command The command.
 * @returns The help text.
 */
export function commandHelp(command: CliCommand): string {
  const rows = Object.entries({ ...command.options, ...COMMON_OPTIONS }).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : "    "}--${name}` +
      (option.type === "string" ? ` <${option.valueName ?? "value"}>` : "") +
      (option.multiple ? "…" : "");
    return { flag, description: option.description };
  });
  const width = Math.max(...rows.map(({ flag }) => flag.length));
  return [
    `Usage: ${command.usage}`,
    "",
    command.description,
    "",
    "Options:",
    ...rows.map(({ flag, description }) => `  ${flag.padEnd(width)}  ${description}`),
  ].join("\n");
}
