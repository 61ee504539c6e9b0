/**
 * `bot-bottle resume <slug>`.
 *
 * @module
 */

import { dax } from "../_internal/dax.ts";
import { UsageError } from "../errors.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";
import { phaseProgress } from "./progress.ts";

/** `bot-bottle resume`. */
export const resumeCommand: CliCommand = {
  name: "resume",
  summary: "boot a bottle again from its snapshot",
  usage: "bot-bottle resume <slug> [--at <id|~N>] [options]",
  description: [
    "Boots a new bot-bottle-<slug> from the bottle's committed snapshot, on the backend its",
    "metadata names, with the mounts, environment and network its last commit recorded. A",
    "stopped bottle of that name is removed first; a running one only with --replace. The",
    "snapshot is never changed, and .preserve stays unless --no-preserve.",
  ].join("\n"),
  options: {
    at: {
      type: "string",
      valueName: "id|~N",
      description: "resume an older snapshot: its id, or ~N for N back from the newest",
    },
    replace: {
      type: "boolean",
      description: "stop and replace a bottle of that name that is still running (asks first)",
    },
    yes: { type: "boolean", short: "y", description: "answer yes to the --replace confirmation" },
    "no-preserve": {
      type: "boolean",
      description: "clear .preserve, so the launcher's session end may remove the state directory",
    },
    json: { type: "boolean", description: "print one JSON object on stdout instead" },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    const [slug] = positionals;
    if (slug === undefined || positionals.length !== 1) {
      throw new UsageError(
        `resume takes one slug, got ${positionals.length}; run "bot-bottle resume --help" for usage`,
      );
    }
    // dax runs every backend command: its load (tens of ms) starts now and overlaps the
    // loading of the rest and the reading of the state. Its failure shows where it is used.
    dax().catch(() => {});
    const [{ resume }, { terminalPrompter }] = await Promise.all([
      import("../ops/resume.ts"),
      import("../prompter.ts"),
    ]);
    const json = values.json === true;
    const progress = phaseProgress(`resuming ${slug}`, !json, context.log);
    let result;
    try {
      result = await resume(slug, {
        ...typeof values.at === "string" ? { at: values.at } : {},
        replace: values.replace === true,
        noPreserve: values["no-preserve"] === true,
        ...lockingOptions(values, context),
        ...progress.around(
          context,
          terminalPrompter({ yes: values.yes === true, signal: context.signal }),
          json ? undefined : context.log,
        ),
      });
    } finally {
      progress.finish();
    }
    if (json) context.print(JSON.stringify(result));
  },
};
