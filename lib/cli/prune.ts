/**
 * `bot-bottle prune <slug> | --all`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { PruneResult } from "../ops/prune.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";
import { formatBytes } from "./table.ts";

/** `bot-bottle prune`. */
export const pruneCommand: CliCommand = {
  name: "prune",
  summary: "remove a bottle's older snapshots",
  usage: "bot-bottle prune (<slug> | --all) [--keep N] [--dry-run]",
  description: [
    "Removes the older snapshots of the bottle (of every bottle with --all), keeping the newest",
    "N (default: BOT_BOTTLE_KEEP_SNAPSHOTS, else 10). The current snapshot and the one a running",
    "bottle was resumed from are never removed. Prints the space freed; --dry-run only says what",
    "would go.",
  ].join("\n"),
  options: {
    keep: { type: "string", valueName: "N", description: "how many of the newest to keep (>= 1)" },
    all: { type: "boolean", description: "prune every bottle" },
    "dry-run": { type: "boolean", description: "say what would be removed, remove nothing" },
    json: { type: "boolean", description: "print a JSON array of results on stdout instead" },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    const all = values.all === true;
    const [slug] = positionals;
    if (all ? positionals.length !== 0 : slug === undefined || positionals.length !== 1) {
      throw new UsageError(
        `prune takes one slug, or --all; run "bot-bottle prune --help" for usage`,
      );
    }
    let keep: { keep: number } | Record<never, never> = {};
    if (typeof values.keep === "string") {
      if (!/^\d+$/.test(values.keep) || Number(values.keep) < 1) {
        throw new UsageError(
          `--keep takes a whole number of at least 1, not ${JSON.stringify(values.keep)}`,
        );
      }
      keep = { keep: Number(values.keep) };
    }
    const options = {
      ...keep,
      dryRun: values["dry-run"] === true,
      ...lockingOptions(values, context),
      log: context.log,
    };
    const { prune, pruneAll } = await import("../ops/prune.ts");
    const results: PruneResult[] = slug === undefined
      ? await pruneAll(options)
      : [await prune(slug, options)];
    if (values.json) {
      context.print(JSON.stringify(results));
      return;
    }
    const verb = options.dryRun ? "would remove" : "removed";
    for (const result of results) {
      if (result.orphans.length > 0) {
        context.log(
          `${result.slug}: ${verb} ${result.orphans.length} snapshot(s) no history records, ` +
            `left by a failed commit or import (${result.orphans.join(", ")})`,
        );
      }
      if (result.repointed) {
        context.log(
          `${result.slug}: ${options.dryRun ? "would point" : "pointed"} committed-image's ` +
            `snapshot back at the newest one, which a failed commit or import had moved`,
        );
      }
      if (result.removed.length === 0 && result.orphans.length === 0 && !result.repointed) {
        context.log(`${result.slug}: nothing to prune`);
        continue;
      }
      if (result.removed.length === 0) continue;
      context.log(
        `${result.slug}: ${verb} ${result.removed.length} snapshot(s) ` +
          `(${result.removed.map((record) => record.id).join(", ")}), ` +
          `${options.dryRun ? "freeing" : "freed"} up to ${formatBytes(result.freedBytes)}`,
      );
    }
  },
};
