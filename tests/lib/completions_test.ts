// The completion-script generator: what it reads from the command
// definitions, and that a new command or option reaches every shell's
// completions without anything listed by hand.

import { deepStrictEqual, equal } from "node:assert/strict";
import type { CliCommand } from "../../lib/cli/command.ts";
import { COMMANDS } from "../../lib/cli/commands.ts";
import { lsCommand } from "../../lib/cli/ls.ts";
import { completionScript, operandCompletion } from "../../lib/cli/completion_scripts.ts";
import { complete, type Shell, whyNoShell } from "../_helpers/shell_completion.ts";

Deno.test("operandCompletion() reads each command's operand from its usage line", () => {
  const operands = Object.fromEntries(
    COMMANDS.filter((command) => command.name !== "completions").map((
      command,
    ) => [command.name, operandCompletion(command)]),
  );
  deepStrictEqual(operands, {
    start: undefined, // "--image <image>" is an option's value, "-- <command>…" no operand
    commit: "slug",
    resume: "slug",
    exec: "slug", // "[--] [COMMAND...]" no operand to complete
    ls: undefined,
    snapshots: "slug",
    prune: "slug", // "(<slug> | --all)"
    export: "slug",
    import: "file", // "--name <slug>" is an option's value
    push: "slug", // "<slug> [--at <id|~N>] <ref>": the first operand
    pull: undefined, // "<ref>": a registry reference, nothing to offer
    destroy: "slug",
    backends: undefined,
  });
});

Deno.test("operandCompletion() offers the words of <a|b|c> and nothing for other placeholders", () => {
  const usage = (usage: string) => operandCompletion({ ...lsCommand, usage });
  deepStrictEqual(usage("bot-bottle x <bash|zsh|fish>"), ["bash", "zsh", "fish"]);
  equal(usage("bot-bottle x <id|~N>"), undefined);
  equal(usage("bot-bottle x <image>"), undefined);
  equal(usage("bot-bottle x [-o <file>] <slug>"), "slug");
});

// A command that no real one is, with options of every kind: proof that the
// scripts take what a definition declares.
const FROB: CliCommand = {
  name: "frobnicate",
  summary: "a command's summary, with 'quotes', [brackets] and a colon: here",
  usage: "bot-bottle frobnicate <slug> [options]",
  description: "",
  options: {
    "widget-count": { type: "string", short: "w", valueName: "n", description: "how many" },
    "from-file": { type: "string", valueName: "file", description: "read it from a file" },
    colour: { type: "string", valueName: "name", description: "red or blue" },
    loudly: { type: "boolean", short: "L", description: 'say it: "loudly" \\ [really]' },
  },
  run: () => Promise.resolve(),
};

const ALL_OPTIONS = [
  "--colour",
  "--from-file",
  "--help",
  "--loudly",
  "--verbose",
  "--widget-count",
];

for (const shell of ["bash", "zsh", "fish"] as const satisfies readonly Shell[]) {
  const reason = await whyNoShell(shell);
  Deno.test({
    name: `a new command and its options reach ${shell}'s completions from the definition alone` +
      (reason ? ` [ignored: ${reason}]` : ""),
    ignore: reason !== undefined,
    async fn() {
      const script = completionScript(shell, [lsCommand, FROB], {
        optionValues: { colour: ["red", "blue"] },
      });
      const env = { HOME: "/nonexistent" };
      deepStrictEqual((await complete(shell, script, "bot-bottle fr", env)).sort(), [
        "frobnicate",
      ]);
      deepStrictEqual(
        (await complete(shell, script, "bot-bottle frobnicate --", env)).sort(),
        ALL_OPTIONS,
      );
      deepStrictEqual(
        (await complete(shell, script, "bot-bottle frobnicate --colour ", env)).sort(),
        ["blue", "red"],
      );
      // ls declares no --colour: its values are the frobnicate option's alone.
      equal((await complete(shell, script, "bot-bottle ls --", env)).includes("--colour"), false);
    },
  });
}
