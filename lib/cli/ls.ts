/**
 * `bot-bottle ls`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { BottleRow } from "../ops/list.ts";
import type { CliCommand } from "./command.ts";
import { formatBytes, formatTable } from "./table.ts";

/** `bot-bottle ls`. */
export const lsCommand: CliCommand = {
  name: "ls",
  summary: "list the bottles, their state and their snapshots",
  usage: "bot-bottle ls [options]",
  description: [
    "Lists every bottle that has a state directory, with what its backend reports. A backend",
    "whose tool is missing or whose engine is down shows as unavailable. --json prints an array",
    "of objects: slug, backend, state, snapshot {artifact, committedAt, sizeBytes, exists, mode},",
    "preserved, startedAt, problem (see docs/cli.md).",
  ].join("\n"),
  options: {
    json: { type: "boolean", description: "print a JSON array on stdout instead of a table" },
  },
  async run({ values, positionals }, context) {
    if (positionals.length > 0) {
      throw new UsageError(`ls takes no arguments; run "bot-bottle ls --help" for usage`);
    }
    const { list } = await import("../ops/list.ts");
    const rows = await list({
      signal: context.signal,
      onRun: context.onRun,
    });
    if (values.json) {
      context.print(JSON.stringify(rows));
      return;
    }
    if (rows.length === 0) {
      context.log("no bottles; start one with: bot-bottle start --image <image>");
      return;
    }
    context.print(table(rows, Deno.stdout.isTerminal()));
    for (const row of rows) {
      if (row.problem) context.log(`${row.slug}: ${row.problem}`);
    }
  },
};

/**
 * The table: STARTED is an age on a terminal ("3h ago"), else the moment in
 * UTC to the second, whatever precision the metadata has (`--json` gives it
 * as written).
 */
function table(rows: BottleRow[], onTerminal: boolean): string {
  const now = Date.now();
  return formatTable([
    ["SLUG", "BACKEND", "STATE", "SNAPSHOT", "MODE", "AGE", "SIZE", "PRESERVED", "STARTED"],
    ...rows.map((row) => {
      const snapshot = row.snapshot;
      return [
        row.slug,
        row.backend || "-",
        row.state,
        snapshot ? `${snapshot.artifact}${snapshot.exists === false ? " (gone)" : ""}` : "-",
        snapshot?.mode ?? "-",
        snapshot?.committedAt ? age(now - Date.parse(snapshot.committedAt)) : "-",
        snapshot?.sizeBytes != null ? formatBytes(snapshot.sizeBytes) : "-",
        row.preserved ? "yes" : "no",
        started(row.startedAt, now, onTerminal),
      ];
    }),
  ]);
}

function started(at: string | null, now: number, onTerminal: boolean): string {
  const time = at === null ? NaN : Date.parse(at);
  if (Number.isNaN(time)) return at ?? "-";
  return onTerminal
    ? `${age(now - time)} ago`
    : new Date(time).toISOString().replace(/\.\d+Z$/, "Z");
}

function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}
