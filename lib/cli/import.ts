/**
 * `bot-bottle import <file>`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";
import { byteProgress } from "./progress.ts";
import { terminalPrompter } from "../prompter.ts";

/** `bot-bottle import`. */
export const importCommand: CliCommand = {
  name: "import",
  summary: "bring in a bottle exported on another machine",
  usage: "bot-bottle import <file> [--name <slug>] [--force] [--allow-host-access]",
  description: [
    "Checks the file written by bot-bottle export (format version, SHA-256 of the artifact,",
    "every member) before touching anything, loads the snapshot into the backend, writes the",
    "bottle's state directory, and prints how to resume it. A bottle of that slug here is",
    "refused, unless --name gives another slug, or --force adds the snapshot to it as the newest",
    "(replacing its metadata; nothing of it is deleted).",
    "",
    "A file from elsewhere is untrusted: host paths mounted into the bottle, the engine's socket",
    "and host networking in its run configuration are listed, and kept only when you say yes",
    "on a terminal, or pass --allow-host-access; otherwise they are dropped, with a warning.",
    "Its artifact may name only the bottle's own snapshot image.",
  ].join("\n"),
  options: {
    name: { type: "string", valueName: "slug", description: "import under this slug" },
    force: {
      type: "boolean",
      description: "add the snapshot to an existing bottle of that slug, as its newest",
    },
    "allow-host-access": {
      type: "boolean",
      description: "keep the host paths, engine socket and host network the file asks for",
    },
    json: { type: "boolean", description: "print one JSON object on stdout instead" },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    const [file] = positionals;
    if (file === undefined || positionals.length !== 1) {
      throw new UsageError(`import takes one file; run "bot-bottle import --help" for usage`);
    }
    const progress = await byteProgress("Importing", values.json !== true);
    try {
      // Loaded here, not at start-up: see lib/cli/export.ts.
      const { importBottle } = await import("../ops/import.ts");
      const result = await importBottle(file, {
        ...typeof values.name === "string" ? { name: values.name } : {},
        force: values.force === true,
        hostAccess: values["allow-host-access"] === true
          ? "allow"
          : Deno.stdin.isTerminal() && Deno.stderr.isTerminal()
          ? "ask"
          : "drop",
        prompter: terminalPrompter({ signal: context.signal }),
        onProgress: progress.update,
        ...lockingOptions(values, context),
        // With --json, warnings and notes still reach stderr.
        log: values.json
          ? (line) => /^(warning|note):/.test(line) && context.log(line)
          : context.log,
      });
      progress.finish();
      if (values.json) context.print(JSON.stringify(result));
    } finally {
      progress.finish();
    }
  },
};
