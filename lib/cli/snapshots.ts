/**
 * `bot-bottle snapshots <slug>`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { CliCommand } from "./command.ts";
import { formatBytes, formatTable } from "./table.ts";
import type { SnapshotRow } from "../ops/snapshots.ts";

/** `bot-bottle snapshots`. */
export const snapshotsCommand: CliCommand = {
  name: "snapshots",
  summary: "list a bottle's snapshots, newest first",
  usage: "bot-bottle snapshots <slug> [--json]",
  description: [
    "Lists every snapshot of the bottle, newest first: id, when, its mode (disk, or full: memory",
    "and disk), size, the snapshot it was resumed from (parent), where it was last pushed",
    "(ref@digest, by bot-bottle push; --json lists every push), and the commit message. * marks",
    "the current one (what resume boots and committed-image names); ^ the one the bottle was",
    "last resumed from.",
  ].join("\n"),
  options: {
    json: { type: "boolean", description: "print a JSON array on stdout instead of a table" },
  },
  async run({ values, positionals }, context) {
    const [slug] = positionals;
    if (slug === undefined || positionals.length !== 1) {
      throw new UsageError(
        `snapshots takes one slug, got ${positionals.length}; run "bot-bottle snapshots --help"`,
      );
    }
    const { snapshots } = await import("../ops/snapshots.ts");
    const rows = await snapshots(slug, { log: context.log });
    if (values.json) {
      context.print(JSON.stringify(rows));
      return;
    }
    if (rows.length === 0) {
      context.log(`bottle "${slug}" has no snapshots; commit it to make one`);
      return;
    }
    context.print(formatTable([
      ["", "ID", "CREATED", "MODE", "SIZE", "PARENT", "PUSHED", "MESSAGE"],
      ...rows.map((row) => [
        (row.current ? "*" : "") + (row.resumedFrom ? "^" : ""),
        row.id,
        row.createdAt,
        row.mode,
        row.sizeBytes === null ? "-" : formatBytes(row.sizeBytes),
        row.parent ?? "-",
        pushedTo(row),
        row.message ?? "",
      ]),
    ]));
  },
};

/** The newest push of a snapshot, `ref@digest`, with how many more there were; `-` for none. */
function pushedTo(row: SnapshotRow): string {
  const pushes = row.pushes ?? [];
  const last = pushes.at(-1);
  if (!last) return "-";
  return `${last.ref}@${last.digest}${pushes.length > 1 ? ` (+${pushes.length - 1})` : ""}`;
}
