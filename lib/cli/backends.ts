/**
 * `bot-bottle backends`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { CliCommand } from "./command.ts";
import { formatTable } from "./table.ts";

/** `bot-bottle backends`. */
export const backendsCommand: CliCommand = {
  name: "backends",
  summary: "list the backends and whether each can run here",
  usage: "bot-bottle backends [options]",
  description: [
    "Lists every backend of the registry: its name, aliases, whether it can run here (its CLI",
    "found, its engine up, its version new enough), its version and what that version can do,",
    "the snapshot modes commit --mode offers on it (disk; full: memory and disk), and where the",
    "registry came from. A backend that cannot run is a row that says why; the command still",
    "succeeds. --json prints an array of objects: name, aliases, available, version, features,",
    "modes, problem, registry (see docs/cli.md).",
  ].join("\n"),
  options: {
    json: { type: "boolean", description: "print a JSON array on stdout instead of a table" },
  },
  async run({ values, positionals }, context) {
    if (positionals.length > 0) {
      throw new UsageError(
        `backends takes no arguments; run "bot-bottle backends --help" for usage`,
      );
    }
    const { listBackends } = await import("../ops/backends.ts");
    const rows = await listBackends({ signal: context.signal, onRun: context.onRun });
    if (values.json) {
      context.print(JSON.stringify(rows));
      return;
    }
    context.print(formatTable([
      ["BACKEND", "ALIASES", "AVAILABLE", "VERSION", "FEATURES", "MODES", "REGISTRY"],
      ...rows.map((row) => [
        row.name,
        row.aliases.map((alias) => alias === "" ? '""' : alias).join(", ") || "-",
        row.available ? "yes" : "no",
        row.version ?? "-",
        row.features.join(", ") || "-",
        row.modes.join(", "),
        row.registry,
      ]),
    ]));
    for (const row of rows) {
      if (row.problem) context.log(`${row.name}: ${row.problem}`);
    }
  },
};
