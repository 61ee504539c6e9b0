// The fish completion script.

import {
  type CommandSpec,
  header,
  type OptionSpec,
  PROGRAM,
  TOP_OPTIONS,
} from "./_completion_spec.ts";

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

export function fishScript(commands: readonly CommandSpec[]): string {
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
