/**
 * The bot-bottle command line, past `--version`: parses the arguments,
 * dispatches to one module per subcommand (each loading what it runs only
 * when it runs), and turns every error into one message and an exit status.
 *
 * @module
 */

import { type CliCommand, type CliContext, commandHelp, parseCommandArgs } from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { BackendError, BotBottleError, Cancelled, Interrupted, UsageError } from "../errors.ts";
import { versionText } from "../version.ts";

function overallHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    "bot-bottle: snapshot AI-agent bottles (Docker containers, Apple containers, smolvm",
    "microVMs) into resumable artifacts.",
    "",
    "Usage: bot-bottle <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "Options:",
    "  -h, --help     show help (bot-bottle <command> --help for a command's)",
    "  -V, --version  show the version",
    "",
    "State lives in $BOT_BOTTLE_HOME, else ~/.bot-bottle; BOT_BOTTLE_REGISTRY names a",
    "registry file to use instead of the built-in one.",
  ].join("\n");
}

/**
 * The command named `name`.
 *
 * @throws {UsageError} When there is none (an option is named as such).
 */
function findCommand(name: string): CliCommand {
  const command = COMMANDS.find((command) => command.name === name);
  if (command) return command;
  const names = COMMANDS.map((command) => command.name).join(", ");
  throw new UsageError(
    name.startsWith("-")
      ? `unknown option ${JSON.stringify(name)}; put a command first (${names}); ` +
        `run "bot-bottle --help"`
      : `unknown command ${JSON.stringify(name)}; commands: ${names}; run "bot-bottle --help"`,
  );
}

/**
 * Runs the CLI.
 *
 * @param args The command-line arguments.
 * @returns The exit status: 0 success or cancelled, 1 error, 2 usage error.
 */
export async function runCli(args: string[]): Promise<number> {
  let verbose = args.includes("--verbose") || args.includes("-v");
  // Ctrl-C or SIGTERM aborts the running backend command; the operation then
  // unwinds, removing its temporary files, and fails with Interrupted. A
  // second signal exits at once.
  const interrupt = new AbortController();
  const onSignal = (signal: "SIGINT" | "SIGTERM") => () => {
    if (interrupt.signal.aborted) Deno.exit(signal === "SIGINT" ? 130 : 143);
    console.error(`bot-bottle: ${signal} received; stopping and cleaning up`);
    interrupt.abort(new Interrupted(signal));
  };
  const listeners = [["SIGINT", onSignal("SIGINT")], ["SIGTERM", onSignal("SIGTERM")]] as const;
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  const context: CliContext = {
    signal: interrupt.signal,
    onRun: (command) => {
      if (verbose) console.error(`$ ${command}`);
    },
    log: (line) => console.error(line),
    print: printLine,
  };
  try {
    const [name, ...rest] = args;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      const topic = name === "help" && rest[0] !== undefined ? findCommand(rest[0]) : undefined;
      context.print(topic ? commandHelp(topic) : overallHelp());
      return 0;
    }
    if (name === "--version" || name === "-V") {
      context.print(versionText());
      return 0;
    }
    const command = findCommand(name);
    const input = parseCommandArgs(command, rest);
    verbose = input.values.verbose === true;
    if (input.values.help) {
      context.print(commandHelp(command));
      return 0;
    }
    return (await command.run(input, context)) ?? 0;
  } catch (error) {
    return report(interrupt.signal.aborted ? interrupt.signal.reason : error, verbose);
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
}

function report(error: unknown, verbose: boolean): number {
  if (error instanceof Cancelled) {
    console.error(`bot-bottle: ${error.message}`);
    return 0;
  }
  if (error instanceof Interrupted) {
    console.error(`bot-bottle: ${error.message}`);
    return error.signal === "SIGINT" ? 130 : 143;
  }
  const message = error instanceof Error ? error.message : String(error);
  console.error(`bot-bottle: error: ${message}`);
  if (verbose && error instanceof BackendError) {
    console.error(`  command: ${JSON.stringify(error.argv)}`);
    console.error(`  exit status: ${error.exitCode ?? "(did not start)"}`);
    if (error.stdout.trim()) console.error(`  stdout:\n${indent(error.stdout)}`);
    if (error.stderr.trim()) console.error(`  stderr:\n${indent(error.stderr)}`);
  } else if (verbose && error instanceof Error && !(error instanceof BotBottleError)) {
    console.error(error.stack);
  }
  return error instanceof UsageError ? 2 : 1;
}

/**
 * Writes a line on stdout, as bytes: `console.log` took ~30 ms to print the
 * JSON of 10,000 snapshots, this well under 1. A reader that went away
 * (`| head`) ends the output quietly, as with `console.log`.
 */
function printLine(line: string): void {
  const bytes = new TextEncoder().encode(`${line}\n`);
  try {
    for (let written = 0; written < bytes.length;) {
      written += Deno.stdout.writeSync(bytes.subarray(written));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

function indent(text: string): string {
  return text.trimEnd().split("\n").map((line) => `    ${line}`).join("\n");
}
