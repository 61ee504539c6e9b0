// The zsh completion script.

import {
  type CommandSpec,
  type Completion,
  header,
  type OptionSpec,
  PROGRAM,
  shQuote,
  TOP_OPTIONS,
} from "./_completion_spec.ts";

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

export function zshScript(commands: readonly CommandSpec[]): string {
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
