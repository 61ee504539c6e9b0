/**
 * The schema of `registry.json`. `registry.schema.json` is emitted from it
 * (`deno task schema`), so editors validate the file as the loader does.
 *
 * @module
 */

import * as v from "valibot";
import { NamingSchema } from "./naming.ts";

const BACKEND_NAME = /^[a-z][a-z0-9-]*$/;

/** What a snapshot holds: `disk` (the filesystem) or `full` (memory and disk, processes and all). */
export type SnapshotMode = "disk" | "full";

/** Every snapshot mode, in the order messages list them. */
export const SNAPSHOT_MODES: readonly SnapshotMode[] = ["disk", "full"];
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

const Pattern = v.pipe(
  v.string(),
  v.minLength(1),
  v.description(
    "A regular expression (JavaScript syntax, matched case-insensitively) against the last line " +
      "of a failed command's error output.",
  ),
);

const Text = (description: string) =>
  v.pipe(
    v.string(),
    v.minLength(1),
    v.description(`${description} {slug}, {container} and {image} are replaced.`),
  );

/**
 * What an engine says and what its user is told: what differs between
 * Docker-compatible engines (docker, podman, nerdctl) run by one module.
 */
export const EngineSchema = v.pipe(
  v.strictObject({
    name: v.pipe(
      v.string(),
      v.minLength(1),
      v.description('The engine in messages, e.g. "Docker".'),
    ),
    errors: v.pipe(
      v.strictObject({
        noSuchContainer: Pattern,
        noSuchImage: Pattern,
        unreachable: Pattern,
        denied: Pattern,
        pruneBusy: v.exactOptional(Pattern),
      }),
      v.description(
        "How the engine says that a container or an image does not exist, that it cannot be " +
          "reached, that the user may not use it, and (optional) that another prune is " +
          "running, which bot-bottle waits out: Docker runs one prune at a time.",
      ),
    ),
    hints: v.pipe(
      v.strictObject({
        export: Text("A command that copies a snapshot image {image} into a file."),
        shell: Text("A command that opens a shell in the running bottle {container}."),
        list: Text("A command that lists every container, for a missing one."),
        unreachable: Text("What to do when the engine cannot be reached."),
        denied: Text("What to do when the user may not use the engine."),
      }),
      v.description("The hints bot-bottle prints."),
    ),
  }),
  v.description("The engine's wording, for a module that serves several engines (builtin:docker)."),
);

const RegistryText = (description: string) =>
  v.pipe(
    v.string(),
    v.minLength(1),
    v.description(
      `${description} {host} (the registry, e.g. 127.0.0.1:5000) and {ref} are replaced.`,
    ),
  );

/**
 * How the backend's CLI says that a push or a pull failed, and what its user
 * is told: what `bot-bottle push` and `pull` need besides their templates.
 */
export const OciSchema = v.pipe(
  v.strictObject({
    errors: v.pipe(
      v.strictObject({
        unreachable: Pattern,
        unauthorized: Pattern,
        untrusted: Pattern,
        unknown: Pattern,
        corrupt: Pattern,
      }),
      v.description(
        "How the CLI says that the registry cannot be reached, refused the credentials (or " +
          "has none), has a TLS certificate this machine does not trust, has no such tag, or " +
          "sent content whose digest did not verify.",
      ),
    ),
    hints: v.pipe(
      v.strictObject({
        unreachable: RegistryText("What to do when the registry cannot be reached."),
        unauthorized: RegistryText("What to do when the registry wants a login."),
        untrusted: RegistryText("What to do when the registry's certificate is not trusted."),
      }),
      v.description("The next steps bot-bottle prints."),
    ),
    digest: v.exactOptional(
      v.pipe(
        v.string(),
        v.minLength(1),
        v.description(
          "A regular expression whose first group is the sha256 digest in the output of the " +
            'push and pull commands, e.g. "digest: (sha256:[0-9a-f]{64})"; without it the ' +
            "backend reads the digest its own way.",
        ),
      ),
    ),
  }),
  v.description("The wording of registry failures, for bot-bottle push and pull."),
);

/** One backend: its freezer module and its command templates. */
export const BackendSchema = v.strictObject({
  description: v.exactOptional(v.pipe(v.string(), v.description("What the backend runs."))),
  requires: v.exactOptional(
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
    v.regex(
      /^(\.{1,2}\/.+\.ts|builtin:[a-z][a-z0-9-]*)$/,
      'the freezer must be a relative path to a .ts module, or "builtin:<backend>"',
    ),
    v.description(
      "The module whose default export is the backend's Freezer class, relative to this file; " +
        'or a built-in one by name: "builtin:docker", "builtin:macos-container", ' +
        '"builtin:smolmachines".',
    ),
  ),
  engine: v.exactOptional(EngineSchema),
  oci: v.exactOptional(OciSchema),
  naming: v.exactOptional(NamingSchema),
  commands: v.pipe(
    v.record(
      v.pipe(v.string(), v.regex(COMMAND_NAME, "command names are camelCase")),
      TemplateSchema,
    ),
    v.description("The backend's external commands, by name."),
  ),
  modes: v.exactOptional(
    v.pipe(
      v.array(v.picklist(SNAPSHOT_MODES, 'a mode is "disk" or "full"')),
      v.minLength(1, "a backend offers at least one snapshot mode"),
      v.description(
        'The snapshot modes `bot-bottle commit --mode` offers on this backend: "disk" (the ' +
          'filesystem; every backend) and "full" (memory and disk: the bottle resumes with its ' +
          'processes). Default ["disk"]. Each must be one its freezer module implements.',
      ),
    ),
  ),
  longRunning: v.exactOptional(
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
  $schema: v.exactOptional(v.string()),
  aliases: v.exactOptional(
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

/** An engine's wording, as the registry declares it (see {@linkcode EngineSchema}). */
export interface Engine {
  /** The engine in messages, e.g. `"Docker"`. */
  name: string;
  /** Regular expressions, matched case-insensitively against a failed command's errors. */
  errors: {
    /** The container does not exist. */
    noSuchContainer: string;
    /** The image does not exist. */
    noSuchImage: string;
    /** The engine cannot be reached. */
    unreachable: string;
    /** The user may not use the engine. */
    denied: string;
    /** Another prune is running (Docker runs one at a time); bot-bottle waits it out. */
    pruneBusy?: string;
  };
  /** Hints, with `{slug}`, `{container}` and `{image}` replaced. */
  hints: {
    /** A command that copies a snapshot image into a file. */
    export: string;
    /** A command that opens a shell in the running bottle. */
    shell: string;
    /** A command that lists every container. */
    list: string;
    /** What to do when the engine cannot be reached. */
    unreachable: string;
    /** What to do when the user may not use the engine. */
    denied: string;
  };
}

/** The wording of registry failures, as the registry declares it (see {@linkcode OciSchema}). */
export interface OciWording {
  /** Regular expressions, matched case-insensitively against a failed push or pull's errors. */
  errors: {
    /** The registry cannot be reached. */
    unreachable: string;
    /** The registry refused the credentials, or wants some. */
    unauthorized: string;
    /** The registry's TLS certificate is not trusted here. */
    untrusted: string;
    /** No such tag or manifest. */
    unknown: string;
    /** What arrived did not match its digest. */
    corrupt: string;
  };
  /** Next steps, with `{host}` and `{ref}` replaced. */
  hints: {
    /** The registry cannot be reached. */
    unreachable: string;
    /** The registry wants a login. */
    unauthorized: string;
    /** Its certificate is not trusted. */
    untrusted: string;
  };
  /** A regular expression whose first group is the digest in push and pull output. */
  digest?: string;
}

// The schema's output is an OciWording: the compiler checks the two agree.
const _schemaIsOci = (output: v.InferOutput<typeof OciSchema>): OciWording => output;

// The schema's output is an Engine: the compiler checks the two agree.
const _schemaIsEngine = (output: v.InferOutput<typeof EngineSchema>): Engine => output;

/** A parsed registry file. */
export type RegistryFile = v.InferOutput<typeof RegistrySchema>;
