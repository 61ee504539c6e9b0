/**
 * The schema of `registry.json`. `registry.schema.json` is emitted from it
 * (`deno task schema`), so editors validate the file as the loader does.
 *
 * @module
 */

import * as v from "valibot";

const BACKEND_NAME = /^[a-z][a-z0-9-]*$/;
const COMMAND_NAME = /^[a-z][A-Za-z0-9]*$/;

/** An argv template: the executable, then its arguments. */
export const TemplateSchema = v.pipe(
  v.array(v.string()),
  v.minLength(1, "a command template needs at least the executable"),
  v.description(
    "The executable, then its arguments. An element may hold placeholders such as " +
      "{container}; each element renders to exactly one argument.",
  ),
);

/** One backend: its freezer module and its command templates. */
export const BackendSchema = v.strictObject({
  description: v.optional(v.pipe(v.string(), v.description("What the backend runs."))),
  requires: v.optional(
    v.pipe(
      v.string(),
      v.description(
        'What the backend needs installed, for the error when its tool is missing: "the ' +
          '<backend> backend needs <requires>".',
      ),
    ),
  ),
  freezer: v.pipe(
    v.string(),
    v.regex(/^\.{1,2}\/.+\.ts$/, "the freezer must be a relative path to a .ts module"),
    v.description(
      "The module whose default export is the backend's Freezer class, relative to this file.",
    ),
  ),
  commands: v.pipe(
    v.record(
      v.pipe(v.string(), v.regex(COMMAND_NAME, "command names are camelCase")),
      TemplateSchema,
    ),
    v.description("The backend's external commands, by name."),
  ),
  longRunning: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.regex(COMMAND_NAME, "command names are camelCase"))),
      v.description(
        "The commands that copy a whole snapshot (commit, save, load, pack…): they get the " +
          "long timeout (BOT_BOTTLE_LONG_TIMEOUT) instead of the short one (BOT_BOTTLE_TIMEOUT).",
      ),
    ),
  ),
});

/** The whole registry. */
export const RegistrySchema = v.strictObject({
  $schema: v.optional(v.string()),
  aliases: v.optional(
    v.pipe(
      v.record(v.string(), v.pipe(v.string(), v.regex(BACKEND_NAME))),
      v.description(
        'Other names for backends, e.g. "" (state written before the backend field) for docker.',
      ),
    ),
  ),
  backends: v.pipe(
    v.record(
      v.pipe(v.string(), v.regex(BACKEND_NAME, "backend names are lower-case words joined by -")),
      BackendSchema,
    ),
    v.description("The backends, by the name stored in a bottle's metadata.json."),
  ),
});

/** A parsed registry file. */
export type RegistryFile = v.InferOutput<typeof RegistrySchema>;
