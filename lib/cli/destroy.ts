/**
 * `bot-bottle destroy <slug>`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type CliCommand, lockingOptions, WAIT_OPTIONS } from "./command.ts";

/** `bot-bottle destroy`. */
export const destroyCommand: CliCommand = {
  name: "destroy",
  summary: "remove a bottle, its snapshot and its state",
  usage: "bot-bottle destroy <slug> [options]",
  description: [
    "Stops and removes bot-bottle-<slug>, then its snapshot and its state directory, after a",
    "confirmation naming what will be lost. --keep-snapshot removes only the running bottle.",
  ].join("\n"),
  options: {
    "keep-snapshot": {
      type: "boolean",
      description: "remove only the bottle; keep its snapshot and state, to resume later",
    },
    yes: { type: "boolean", short: "y", description: "answer yes to the confirmation" },
    json: { type: "boolean", description: "print one JSON object on stdout instead" },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    const [slug] = positionals;
    if (slug === undefined || positionals.length !== 1) {
      throw new UsageError(
        `destroy takes one slug, got ${positionals.length}; run "bot-bottle destroy --help" for usage`,
      );
    }
    // Loaded here, not at start-up: every command loads only what it runs.
    const [{ destroy }, { terminalPrompter }] = await Promise.all([
      import("../ops/destroy.ts"),
      import("../prompter.ts"),
    ]);
    const result = await destroy(slug, {
      keepSnapshot: values["keep-snapshot"] === true,
      prompter: terminalPrompter({ yes: values.yes === true, signal: context.signal }),
      ...lockingOptions(values, context),
      ...values.json ? {} : { log: context.log },
    });
    if (values.json) context.print(JSON.stringify(result));
  },
};
