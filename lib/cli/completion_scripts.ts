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

/** The shells {@linkcode completionScript} writes for. */
export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@linkcode COMPLETION_SHELLS}. */
export type CompletionShell = typeof COMPLETION_SHELLS[number];

/**
 * What a word completes to: the slugs of known bottles, file names, one of
 * a fixed list of words, or nothing (`undefined`).
 */
export type Completion = "slug" | "file" | readonly string[] | undefined;

/** Options for {@linkcode completionScript}. */
export interface CompletionScriptOptions {
  /**
   * The values an option takes, by its long name (e.g. `backend`: the
   * registry's backends). Without an entry, an option whose value is named
   * `file` completes file names and any other completes nothing.
   */
  optionValues?: Readonly<Record<string, readonly string[]>>;
}

interface OptionSpec {
  long: string;
  short?: string;
  takesValue: boolean;
  multiple: boolean;
  valueName: string;
  description: string;
  values: Completion;
}

interface CommandSpec {
  name: string;
  summary: string;
  options: OptionSpec[];
  operand: Completion;
  takesCommand: boolean;
}

/** The program the scripts complete. */
const PROGRAM = "bot-bottle";

/** The options of the bare program, before a command. */
const TOP_OPTIONS: readonly OptionSpec[] = [
  option("help", "h", "show help"),
  option("version", "V", "show the version"),
];

function option(long: string, short: string, description: string): OptionSpec {
  return {
    long,
    short,
    takesValue: false,
    multiple: false,
    valueName: "",
    description,
    values: undefined,
  };
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
        short: spec.short,
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

/** Quotes `text` as one word for bash and zsh. */
function shQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function flagsOf(option: OptionSpec): string[] {
  return [`--${option.long}`, ...(option.short ? [`-${option.short}`] : [])];
}

function header(shell: CompletionShell, install: string): string[] {
  return [
    `# ${shell} completion for ${PROGRAM}: ${install}`,
    `# Generated by "${PROGRAM} completions ${shell}" from the command definitions;`,
    `# run it again after an upgrade. Slugs come from "${PROGRAM} completions --slugs".`,
  ];
}

function bashScript(commands: readonly CommandSpec[]): string {
  const arms = commands.map((command) => {
    const operand = command.operand;
    return [
      `    ${command.name})`,
      `      flags=${shQuote(command.options.flatMap(flagsOf).join(" "))}`,
      `      valued=${
        shQuote(command.options.filter((option) => option.takesValue).flatMap(flagsOf).join(" "))
      }`,
      ...(operand === undefined ? [] : [
        `      operand=${shQuote(typeof operand === "string" ? operand : "words")}`,
        ...(typeof operand === "string" ? [] : [`      words=${shQuote(operand.join(" "))}`]),
      ]),
      ...(command.takesCommand ? ["      takes_command=1"] : []),
      "      ;;",
    ].join("\n");
  });
  const valueArms = commands.flatMap((command) =>
    command.options.filter((option) => option.values !== undefined).map((option) => {
      const patterns = flagsOf(option).map((flag) => shQuote(`${command.name} ${flag}`));
      const action = option.values === "file"
        ? `compopt -o filenames 2>/dev/null; _bot_bottle_reply -f -- "$cur"`
        : option.values === "slug"
        ? `_bot_bottle_reply -W "$(_bot_bottle_slugs)" -- "$cur"`
        : `_bot_bottle_reply -W ${shQuote(option.values!.join(" "))} -- "$cur"`;
      return `    ${patterns.join(" | ")})\n      ${action}\n      return 0\n      ;;`;
    })
  );
  return [
    ...header(
      "bash",
      `source it, or save it as ~/.local/share/bash-completion/completions/${PROGRAM}.`,
    ),
    "",
    "# Sets COMPREPLY to compgen's candidates, one a line (file names may hold spaces).",
    "_bot_bottle_reply() {",
    "  local line",
    "  COMPREPLY=()",
    '  while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen "$@")',
    "}",
    "",
    "# The slugs of the known bottles, from the program being completed; quiet on errors.",
    "_bot_bottle_slugs() {",
    "  local program=${COMP_WORDS[0]}",
    "  # A typed ~/ is not expanded in COMP_WORDS.",
    "  # shellcheck disable=SC2088",
    '  [[ $program == "~/"* ]] && program=$HOME/${program:2}',
    '  "$program" completions --slugs 2>/dev/null',
    "}",
    "",
    "_bot_bottle() {",
    "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}",
    "  COMPREPLY=()",
    "  if ((COMP_CWORD == 1)); then",
    "    if [[ $cur == -* ]]; then",
    `      _bot_bottle_reply -W ${shQuote(TOP_OPTIONS.flatMap(flagsOf).join(" "))} -- "$cur"`,
    "    else",
    `      _bot_bottle_reply -W ${
      shQuote(commands.map((command) => command.name).join(" "))
    } -- "$cur"`,
    "    fi",
    "    return 0",
    "  fi",
    "  local sub=${COMP_WORDS[1]} flags='' valued='' operand='' words='' takes_command=''",
    "  case $sub in",
    ...arms,
    "    *) return 0 ;;",
    "  esac",
    '  case "$sub $prev" in',
    ...valueArms,
    "  esac",
    "  # The value of an option that takes one: nothing to offer.",
    '  [[ " $valued " == *" $prev "* ]] && return 0',
    "  local i given=0",
    "  for ((i = 2; i < COMP_CWORD; i++)); do",
    "    if [[ ${COMP_WORDS[i]} == -- && -n $takes_command ]]; then",
    "      return 0 # the command to run in the bottle",
    '    elif [[ " $valued " == *" ${COMP_WORDS[i]} "* ]]; then',
    "      i=$((i + 1))",
    "    elif [[ ${COMP_WORDS[i]} != -* ]]; then",
    "      given=$((given + 1))",
    "    fi",
    "  done",
    "  if [[ $cur == -* || -z $operand ]] || ((given > 0)); then",
    '    _bot_bottle_reply -W "$flags" -- "$cur"',
    "  elif [[ $operand == slug ]]; then",
    '    _bot_bottle_reply -W "$(_bot_bottle_slugs)" -- "$cur"',
    "  elif [[ $operand == file ]]; then",
    "    compopt -o filenames 2>/dev/null",
    '    _bot_bottle_reply -f -- "$cur"',
    "  else",
    '    _bot_bottle_reply -W "$words" -- "$cur"',
    "  fi",
    "  return 0",
    "}",
    "",
    `complete -F _bot_bottle ${PROGRAM}`,
    "",
  ].join("\n");
}

/** Escapes text for inside the `[…]` of a zsh `_arguments` spec. */
function zshDescription(text: string): string {
  return text.replace(/[\\\[\]]/g, "\\$&");
}

/** Escapes text for a `:message:` of a zsh `_arguments` spec. */
function zshMessage(text: string): string {
  return text.replace(/[\\:]/g, "\\$&");
}

function zshAction(completion: Completion): string {
  if (completion === "slug") return "_bot_bottle_slugs";
  if (completion === "file") return "_files";
  if (completion === undefined) return " ";
  return `(${completion.join(" ")})`;
}

function zshOptionSpecs(option: OptionSpec): string {
  const description = `[${zshDescription(option.description)}]`;
  const value = option.takesValue
    ? `:${zshMessage(option.valueName)}:${zshAction(option.values)}`
    : "";
  const long = `--${option.long}${option.takesValue ? "=" : ""}`;
  const short = option.short ? `-${option.short}${option.takesValue ? "+" : ""}` : undefined;
  const repeat = option.multiple ? "*" : "";
  if (!short) return shQuote(`${repeat}${long}${description}${value}`);
  const exclusive = option.multiple ? "" : `(-${option.short} --${option.long})`;
  return `${shQuote(`${exclusive}${repeat}`)}{${short},${long}}${
    shQuote(`${description}${value}`)
  }`;
}

function zshScript(commands: readonly CommandSpec[]): string {
  const arms = commands.map((command) => {
    const operandMessage = command.operand === "slug"
      ? "bottle"
      : command.operand === "file"
      ? "file"
      : "argument";
    const specs = [
      ...command.options.map(zshOptionSpecs),
      ...(command.operand === undefined
        ? []
        : [shQuote(`1:${operandMessage}:${zshAction(command.operand)}`)]),
    ];
    return [
      `        ${command.name})`,
      "          _arguments -s \\",
      ...specs.map((spec, index) =>
        `            ${spec}${index < specs.length - 1 ? " \\" : " && ret=0"}`
      ),
      "          ;;",
    ].join("\n");
  });
  return [
    `#compdef ${PROGRAM}`,
    ...header("zsh", `save it as _${PROGRAM} in a directory on $fpath, or source it.`),
    "",
    "# The slugs of the known bottles, from the program being completed; quiet on errors.",
    "_bot_bottle_slugs() {",
    "  local -a slugs",
    '  slugs=("${(@f)$("$_bot_bottle_program" completions --slugs 2>/dev/null)}")',
    "  slugs=(${slugs:#})",
    "  _wanted slugs expl bottle compadd -a slugs",
    "}",
    "",
    "_bot_bottle() {",
    "  local curcontext=$curcontext state line ret=1",
    "  local _bot_bottle_program=${words[1]}",
    "  [[ $_bot_bottle_program == '~/'* ]] &&",
    "    _bot_bottle_program=$HOME/${_bot_bottle_program#'~/'}",
    "  local -a commands",
    "  commands=(",
    ...commands.map((command) =>
      `    ${shQuote(`${zshMessage(command.name)}:${command.summary}`)}`
    ),
    "  )",
    "  _arguments -C \\",
    ...TOP_OPTIONS.map((option) =>
      `    ${shQuote("(- *)")}{-${option.short},--${option.long}}${
        shQuote(`[${zshDescription(option.description)}]`)
      } \\`
    ),
    `    '1: :->command' \\`,
    `    '*:: :->args' && ret=0`,
    "  case $state in",
    "    command)",
    `      _describe -t commands ${shQuote(`${PROGRAM} command`)} commands && ret=0`,
    "      ;;",
    "    args)",
    "      case $words[1] in",
    ...arms,
    "      esac",
    "      ;;",
    "  esac",
    "  return ret",
    "}",
    "",
    "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then",
    '  _bot_bottle "$@"',
    "else",
    `  compdef _bot_bottle ${PROGRAM}`,
    "fi",
    "",
  ].join("\n");
}

/** Quotes `text` as one word for fish. */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, "\\$&")}'`;
}

function fishOption(condition: string, option: OptionSpec): string {
  const values = option.values;
  return [
    `complete -c ${PROGRAM} -n ${fishQuote(condition)}`,
    ...(option.short ? [`-s ${option.short}`] : []),
    `-l ${option.long}`,
    ...(!option.takesValue ? [] : values === "file" ? ["-r", "-F"] : ["-x"]),
    ...(values === "slug" ? ["-a '(__bot_bottle_slugs)'"] : []),
    ...(Array.isArray(values) ? [`-a ${fishQuote(values.join(" "))}`] : []),
    `-d ${fishQuote(option.description)}`,
  ].join(" ");
}

function fishScript(commands: readonly CommandSpec[]): string {
  const lines = commands.flatMap((command) => {
    const using = `__bot_bottle_using ${command.name}`;
    const operand = command.operand;
    return [
      "",
      `# ${command.name}`,
      ...command.options.map((option) => fishOption(using, option)),
      ...(operand === "slug"
        ? [`complete -c ${PROGRAM} -n ${fishQuote(using)} -a '(__bot_bottle_slugs)'`]
        : operand === "file"
        ? [`complete -c ${PROGRAM} -n ${fishQuote(using)} -F`]
        : operand === undefined
        ? []
        : [`complete -c ${PROGRAM} -n ${fishQuote(using)} -a ${fishQuote(operand.join(" "))}`]),
    ];
  });
  return [
    ...header("fish", `save it as ~/.config/fish/completions/${PROGRAM}.fish, or source it.`),
    "",
    "function __bot_bottle_needs_command",
    "    test (count (commandline -opc)) -eq 1",
    "end",
    "",
    "function __bot_bottle_using",
    "    set -l tokens (commandline -opc)",
    "    test (count $tokens) -ge 2; and contains -- $tokens[2] $argv",
    "end",
    "",
    "# The slugs of the known bottles, from the program being completed; quiet on errors.",
    "function __bot_bottle_slugs",
    "    set -l program (commandline -opc)[1]",
    "    string match -q '~/*' -- $program; and set program $HOME/(string sub -s 3 -- $program)",
    "    type -q -- $program; and $program completions --slugs 2>/dev/null",
    "end",
    "",
    `complete -c ${PROGRAM} -f`,
    ...TOP_OPTIONS.map((option) => fishOption("__bot_bottle_needs_command", option)),
    ...commands.map((command) =>
      `complete -c ${PROGRAM} -n __bot_bottle_needs_command -a ${command.name} -d ${
        fishQuote(command.summary)
      }`
    ),
    ...lines,
    "",
  ].join("\n");
}
