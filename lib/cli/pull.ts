/**
 * `bot-bottle pull <ref>`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";
import { phaseProgress } from "./progress.ts";

/** `bot-bottle pull`. */
export const pullCommand: CliCommand = {
  name: "pull",
  summary: "recreate a bottle pushed to an OCI registry",
  usage: "bot-bottle pull <ref> [--name <slug>] [--force] [--backend <backend>]",
  description: [
    "Reads the bottle's state pushed beside <ref> (<tag>.bottle), checks every member against",
    "its manifest, pulls the snapshot and checks its digest (and the one in <ref>@<digest>),",
    "then writes the bottle's state directory, as import does, and prints how to resume it.",
    "A bottle of that slug here is refused, unless --name gives another slug or --force adds",
    "the snapshot to it as the newest. A reference that is not a bottle (a plain image) is",
    "refused. Host paths, the engine's socket and host networking its run configuration asks",
    "for are kept only when you say yes on a terminal, or pass --allow-host-access. On any",
    "failure nothing is left here. --backend: the backend it was pushed from (default: docker).",
  ].join("\n"),
  options: {
    name: { type: "string", valueName: "slug", description: "pull it under this slug" },
    force: {
      type: "boolean",
      description: "add the snapshot to an existing bottle of that slug, as its newest",
    },
    backend: {
      type: "string",
      valueName: "backend",
      description: "the backend it was pushed from (default: docker)",
    },
    "allow-host-access": {
      type: "boolean",
      description: "keep the host paths, engine socket and host network it asks for",
    },
    json: { type: "boolean", description: "print one JSON object on stdout instead" },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    if (positionals.length !== 1) {
      throw new UsageError(`pull takes one registry reference; run "bot-bottle pull --help"`);
    }
    const json = values.json === true;
    const progress = phaseProgress(`pulling ${positionals[0]}`, !json, context.log);
    let result;
    try {
      const { pullBottle } = await import("../ops/pull.ts");
      const { terminalPrompter } = await import("../prompter.ts");
      const prompter = terminalPrompter({ signal: context.signal });
      const log = json
        ? (line: string) => /^(warning|note):/.test(line) && context.log(line)
        : context.log;
      result = await pullBottle(positionals[0]!, {
        name: typeof values.name === "string" ? values.name : undefined,
        force: values.force === true,
        backend: typeof values.backend === "string" ? values.backend : undefined,
        hostAccess: values["allow-host-access"] === true
          ? "allow"
          : Deno.stdin.isTerminal() && Deno.stderr.isTerminal()
          ? "ask"
          : "drop",
        ...lockingOptions(values, context),
        ...progress.around(context, prompter, log),
      });
    } finally {
      progress.finish();
    }
    if (json) context.print(JSON.stringify(result));
  },
};
