/**
 * `bot-bottle start --image IMAGE [options] [-- COMMAND…]`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { KINDS, type PlaceholderKind } from "../registry/template.ts";
import type { CliCommand } from "./command.ts";
import { list, string } from "./values.ts";

/** What a value the user types must look like, per option, with an example. */
const TYPED: Record<string, { kind: PlaceholderKind; example: string }> = {
  image: { kind: KINDS.imageReference, example: "--image debian:bookworm" },
  env: { kind: KINDS.environmentVariable, example: "--env API_KEY=abc123" },
  volume: { kind: KINDS.volume, example: '--volume "$PWD:/work" or --volume cache:/cache:ro' },
};

/**
 * Refuses a value that cannot be what its option takes, as a usage error
 * that says what a valid one looks like, before anything is made.
 */
function checkTyped(option: string, values: readonly string[]): void {
  const { kind, example } = TYPED[option]!;
  for (const value of values) {
    if (!kind.accepts(value)) {
      throw new UsageError(
        `--${option} ${JSON.stringify(value)} is not ${kind.description}; for example ${example}`,
      );
    }
  }
}

/** `bot-bottle start`. */
export const startCommand: CliCommand = {
  name: "start",
  summary: "start a new bottle from an image",
  usage: "bot-bottle start --image <image> [options] [-- <command>…]",
  description: [
    "Creates and starts the bottle bot-bottle-<slug>, detached, and writes its metadata.json as",
    "the launcher does. The slug is --name made into a slug, or <prefix>-<5 characters> without",
    "one. Prints the slug on stdout (for scripts) and how to get a shell in it on stderr.",
  ].join("\n"),
  takesCommand: true,
  options: {
    image: { type: "string", valueName: "image", description: "the image to run (required)" },
    backend: {
      type: "string",
      valueName: "name",
      description: "docker (default), macos-container or smolmachines",
    },
    name: { type: "string", valueName: "label", description: "a label to make the slug from" },
    env: {
      type: "string",
      valueName: "NAME=value",
      multiple: true,
      description: "an environment variable",
    },
    volume: {
      type: "string",
      valueName: "host:guest[:ro]",
      multiple: true,
      description: "a bind mount",
    },
    json: { type: "boolean", description: "print one JSON object on stdout instead" },
  },
  async run({ values, positionals, rest }, context) {
    if (positionals.length > 0) {
      throw new UsageError(
        `start takes no arguments before "--", got ${JSON.stringify(positionals[0])}; ` +
          `put the command after "--": bot-bottle start --image <image> -- <command>…`,
      );
    }
    const image = string(values.image);
    if (image === undefined) {
      throw new UsageError(`start needs --image; run "bot-bottle start --help" for usage`);
    }
    const env = list(values.env);
    const volumes = list(values.volume);
    checkTyped("image", [image]);
    checkTyped("env", env);
    checkTyped("volume", volumes);
    const backend = string(values.backend);
    const label = string(values.name);
    const { start } = await import("../ops/start.ts");
    const result = await start({
      image,
      ...backend === undefined ? {} : { backend },
      ...label === undefined ? {} : { label },
      env,
      volumes,
      command: rest,
      signal: context.signal,
      onRun: context.onRun,
    });
    if (values.json) {
      context.print(JSON.stringify(result));
      return;
    }
    context.print(result.slug);
    context.log(`started bottle "${result.slug}" (${result.bottle} on ${result.backend})`);
    context.log(`to get a shell in it: ${result.shellCommand}`);
  },
};
