/**
 * `bot-bottle export <slug>`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type Compression, COMPRESSIONS } from "../archive/archive_compression.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";
import { byteProgress } from "./progress.ts";
import { formatBytes } from "./table.ts";

/** `bot-bottle export`. */
export const exportCommand: CliCommand = {
  name: "export",
  summary: "write a bottle's snapshot to one file, to move it to another machine",
  usage: "bot-bottle export <slug> [--at <id|~N>] [-o <file>] [--compression zstd|gzip|none]",
  description: [
    "Writes one file holding a manifest (format, slug, backend, snapshot, lineage, tool",
    "version, the artifact's size), metadata.json, run-config.json, the artifact (docker save",
    "/ container image save output, or the .smolmachine) and its SHA-256 as a sha256sum line,",
    "compressed with zstd (archive format 4). --compression gzip writes archive format 1,",
    "which bot-bottle 0.1 reads too (slower to write, its SHA-256 in the manifest); none suits",
    "data that is already compressed. The file is written whole or not at all, with mode",
    "0600: it holds whatever the bottle held, secrets included. Default name:",
    "<slug>-<snapshot id>.bottle. Import it with bot-bottle import.",
  ].join("\n"),
  options: {
    at: { type: "string", valueName: "id|~N", description: "the snapshot (default: the newest)" },
    output: { type: "string", short: "o", valueName: "file", description: "the file to write" },
    compression: {
      type: "string",
      valueName: "zstd|gzip|none",
      description: "how to compress it (default: zstd)",
    },
    json: { type: "boolean", description: "print one JSON object on stdout instead" },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    const [slug] = positionals;
    if (slug === undefined || positionals.length !== 1) {
      throw new UsageError(`export takes one slug; run "bot-bottle export --help" for usage`);
    }
    const compression = values.compression ?? "zstd";
    if (!(COMPRESSIONS as readonly unknown[]).includes(compression)) {
      throw new UsageError(
        `--compression takes zstd, gzip or none, not ${JSON.stringify(compression)}`,
      );
    }
    const progress = await byteProgress("Exporting", values.json !== true);
    try {
      // Loaded here, not at start-up: the archive code pulls in tar-stream and
      // Deno's Node-compat layer, which every other command would pay for.
      const { exportBottle } = await import("../ops/export.ts");
      const result = await exportBottle(slug, {
        ...typeof values.at === "string" ? { at: values.at } : {},
        ...typeof values.output === "string" ? { out: values.output } : {},
        compression: compression as Compression,
        onProgress: progress.update,
        ...lockingOptions(values, context),
      });
      progress.finish();
      if (values.json) {
        context.print(JSON.stringify(result));
        return;
      }
      context.log(
        `exported snapshot ${result.manifest.snapshot.id} of bottle "${result.manifest.slug}" ` +
          `to ${result.file} (${formatBytes(result.manifest.artifact.sizeBytes)} artifact, ` +
          `sha256 ${result.manifest.artifact.sha256.slice(0, 12)}…)`,
      );
      context.log(`on the other machine: bot-bottle import ${result.file}`);
    } finally {
      progress.finish();
    }
  },
};
