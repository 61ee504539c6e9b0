/**
 * `bot-bottle push <slug> <ref>`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";
import { phaseProgress } from "./progress.ts";

/** `bot-bottle push`. */
export const pushCommand: CliCommand = {
  name: "push",
  summary: "push a bottle's snapshot and state to an OCI registry",
  usage: "bot-bottle push <slug> [--at <id|~N>] <ref>",
  description: [
    "Pushes the snapshot as the backend's own artifact to <ref> (a reference without a tag",
    "gets the snapshot's id as its tag), and the bottle's state (metadata.json, run-config.json,",
    "the snapshot's record and lineage, a manifest with the SHA-256 of each and the snapshot's",
    "digest) beside it as <tag>.bottle, through the engine's own commands and login (docker",
    "login, container registry login); bot-bottle never takes a password. Prints <ref>@<digest>",
    "on stdout, and records the push in the snapshot's history (bot-bottle snapshots).",
  ].join("\n"),
  options: {
    at: { type: "string", valueName: "id|~N", description: "the snapshot (default: the newest)" },
    json: { type: "boolean", description: "print one JSON object on stdout instead" },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    if (positionals.length !== 2) {
      throw new UsageError(
        `push takes a slug and a registry reference; run "bot-bottle push --help" for usage`,
      );
    }
    const [slug, ref] = positionals as [string, string];
    const json = values.json === true;
    const progress = phaseProgress(`pushing ${slug}`, !json, context.log);
    let result;
    try {
      const { pushBottle } = await import("../ops/push.ts");
      const { terminalPrompter } = await import("../prompter.ts");
      result = await pushBottle(slug, ref, {
        at: typeof values.at === "string" ? values.at : undefined,
        ...lockingOptions(values, context),
        ...progress.around(
          context,
          terminalPrompter({ signal: context.signal }),
          json ? undefined : context.log,
        ),
      });
    } finally {
      progress.finish();
    }
    context.print(json ? JSON.stringify(result) : result.pinned);
  },
};
