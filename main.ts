#!/usr/bin/env -S deno run --allow-all
/**
 * The bot-bottle command line. `--version` answers from here, loading
 * nothing else; every other command loads the CLI (lib/cli/main.ts), which
 * loads only what that command runs.
 *
 * @module
 */

import { versionText } from "./lib/version.ts";

/**
 * Runs the CLI.
 *
 * @param args The command-line arguments.
 * @returns The exit status: 0 success or cancelled, 1 error, 2 usage error.
 */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "--version" || args[0] === "-V") {
    console.log(versionText());
    return 0;
  }
  const { runCli } = await import("./lib/cli/main.ts");
  return await runCli(args);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
