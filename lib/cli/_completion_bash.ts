// The bash completion script.

import {
  type CommandSpec,
  flagsOf,
  header,
  PROGRAM,
  shQuote,
  TOP_OPTIONS,
} from "./_completion_spec.ts";

export function bashScript(commands: readonly CommandSpec[]): string {
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
