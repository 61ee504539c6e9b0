// Completing a command line in a real shell (bash, zsh, fish) with a
// completion script, as a user pressing Tab would, and reading the
// candidates the shell offers.

import { join } from "node:path";
import { cliEnv, MAIN } from "./cli.ts";
import { present } from "./present.ts";

/** A shell whose completion can be driven from a test. */
export type Shell = "bash" | "zsh" | "fish";

/** Why `shell` cannot be run here, or `undefined` when it can. */
export async function whyNoShell(shell: Shell): Promise<string | undefined> {
  try {
    const { success } = await new Deno.Command(shell, {
      args: ["-c", "exit 0"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? undefined : `${shell} does not run`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `${shell} is not installed (apt-get install ${shell})`;
    }
    throw error;
  }
}

/**
 * A directory holding `bot-bottle`: a script that runs main.ts with this
 * Deno, so that a completion script can call the program by name.
 */
export async function programOnPath(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-bin-" });
  const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  await Deno.writeTextFile(
    join(dir, "bot-bottle"),
    `#!/bin/sh\nexec ${quote(Deno.execPath())} run --allow-all --quiet ${quote(MAIN)} "$@"\n`,
    { mode: 0o755 },
  );
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

// bash: source the script, find the function `complete -p` registered for
// bot-bottle, set COMP_* as bash does for the line, call it, print COMPREPLY.
const BASH_PROBE = `
source "$1" || exit 3
spec=$(complete -p bot-bottle) || exit 4
[[ $spec =~ -F\\ ([^ ]+) ]] || exit 5
COMP_LINE=$2
COMP_POINT=\${#COMP_LINE}
read -ra COMP_WORDS <<<"$2"
[[ $2 == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
"\${BASH_REMATCH[1]}" bot-bottle "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`;

// zsh: completion works only inside the line editor, so run an interactive
// zsh on a pseudo-terminal (zpty), type the line and Tab, and have compadd
// print every candidate it is given. The widget prints an end marker.
const ZSH_PROBE = `
zmodload zsh/zpty || exit 3
zpty bb zsh -f -i
zpty -w bb 'PROMPT="%% " RPROMPT= ; unsetopt zle_bracketed_paste'
zpty -w bb 'autoload -Uz compinit && compinit -u -D'
zpty -w bb "source \${(q)1}"
zpty -w bb 'zstyle ":completion:*" insert-tab false; zstyle ":completion:*" list-grouped false'
zpty -w bb 'compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; return; fi; local -a hits; builtin compadd -A hits "$@"; local hit; for hit in $hits; do print -r -- "<<hit:$hit>>"; done; }'
zpty -w bb '_bb_probe() { _main_complete; print -r -- "<<end:$((6*7))>>"; }; zle -C _bb_probe complete-word _bb_probe; bindkey "^I" _bb_probe'
zpty -w bb 'print -r -- "<<ready:$((6*7))>>"'
out= line=
SECONDS=0
until [[ $out == *"<<ready:42>>"* ]]; do
  zpty -r -t bb line && out+=$line || sleep 0.05
  ((SECONDS < 60)) || { print -r -- "$out"; exit 6; }
done
zpty -n -w bb "$2"$'\\t'
out=
until [[ $out == *"<<end:42>>"* ]]; do
  zpty -r -t bb line && out+=$line || sleep 0.05
  ((SECONDS < 60)) || { print -r -- "$out"; exit 7; }
done
zpty -d bb
print -r -- "$out"
`;

// fish: complete -C completes a command line without a terminal.
const FISH_PROBE = `source $argv[1]; or exit 3; complete -C $argv[2]`;

/**
 * The candidates `shell` offers for `line` (the cursor at its end) with the
 * completion `script`, run with only `env` (plus `PATH` and Deno's cache).
 *
 * @throws When the shell fails or writes to stderr, with its output.
 */
export async function complete(
  shell: Shell,
  script: string,
  line: string,
  env: Record<string, string>,
): Promise<string[]> {
  const file = await Deno.makeTempFile({ prefix: "bot-bottle-completion-" });
  try {
    await Deno.writeTextFile(file, script);
    const args = shell === "bash"
      ? ["--norc", "--noprofile", "-c", BASH_PROBE, "bash", file, line]
      : shell === "zsh"
      ? ["-f", "-c", ZSH_PROBE, "zsh", file, line]
      : ["--no-config", "-c", FISH_PROBE, file, line];
    const output = await new Deno.Command(shell, {
      args,
      env: cliEnv(env),
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    // A completion must never print on the user's terminal: any stderr is a failure.
    if (!output.success || stderr !== "") {
      throw new Error(`${shell} failed (${output.code}) completing "${line}": ${stderr}${stdout}`);
    }
    if (shell === "zsh") {
      return [...stdout.replaceAll("\r", "").matchAll(/<<hit:(.*?)>>/g)].map(([, hit]) =>
        present(hit)
      );
    }
    // fish prints "candidate<TAB>description".
    return stdout.split("\n").filter(Boolean).map((candidate) => present(candidate.split("\t")[0]));
  } finally {
    await Deno.remove(file);
  }
}

/** Checks the syntax of `script` with `shell -n`; returns the shell's complaint, if any. */
export async function syntaxError(shell: Shell, script: string): Promise<string | undefined> {
  const file = await Deno.makeTempFile({ prefix: "bot-bottle-completion-" });
  try {
    await Deno.writeTextFile(file, script);
    const output = await new Deno.Command(shell, {
      args: ["-n", file],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return output.success ? undefined : new TextDecoder().decode(output.stderr) || "failed";
  } finally {
    await Deno.remove(file);
  }
}
