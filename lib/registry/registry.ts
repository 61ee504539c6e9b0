/**
 * The backend registry: `registry.json` maps backend names to a freezer
 * module and the backend's command templates. The built-in registry is
 * embedded in the program; `BOT_BOTTLE_REGISTRY` names a file to use instead.
 *
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as v from "valibot";
import builtinRegistry from "../../registry.json" with { type: "json" };
import { BackendCommands, type BackendCommandsOptions } from "./backend_commands.ts";
import { BadInputError } from "../errors.ts";
import { Backend, type BackendOptions } from "../backend.ts";
import type { Freezer, FreezerClass } from "../freezer.ts";
import { BUILTIN_URL, loadFreezerModule, modeIfWritableByOthers } from "./freezer_module.ts";
import {
  type Engine,
  type OciWording,
  type RegistryFile,
  RegistrySchema,
  type SnapshotMode,
} from "./registry_schema.ts";
import { describeIssues } from "./schema_issues.ts";
import { type Naming, namingOf } from "./naming.ts";
import { PLACEHOLDERS, placeholdersOf, type Template, templateProblem } from "./template.ts";

/** A backend as the registry declares it, its freezer module loaded. */
export interface RegisteredBackend {
  /** The backend's name. */
  name: string;
  /** Its other names (aliases), e.g. `""` for docker. */
  aliases: string[];
  /** What it runs. */
  description?: string;
  /** What it needs installed, for messages. */
  requires?: string;
  /** The freezer module's path as written in the registry. */
  module: string;
  /** The freezer class the module exports by default. */
  freezer: FreezerClass;
  /** Its command templates, by name. */
  commands: Readonly<Record<string, Template>>;
  /** Its engine's wording, when the registry declares it. */
  engine?: Engine;
  /** The wording of its registry failures (push, pull), when the registry declares it. */
  oci?: OciWording;
  /** The names it gives its bottles and snapshots. */
  naming: Naming;
  /** The commands that copy a whole snapshot, which get the long timeout. */
  longRunning: readonly string[];
  /** The snapshot modes `commit --mode` offers on it (`disk`; `full` where memory is captured). */
  modes: readonly SnapshotMode[];
}

/** Options for {@linkcode Registry.getFreezer}. */
export interface GetFreezerOptions extends BackendOptions, BackendCommandsOptions {}

/** Options for {@linkcode Registry.getBackend}. */
export type GetBackendOptions = GetFreezerOptions;

/** A loaded and validated registry. */
export class Registry {
  /** Where it was loaded from: a file path, or `"built-in"`. */
  readonly source: string;
  readonly #backends: ReadonlyMap<string, RegisteredBackend>;
  readonly #aliases: Readonly<Record<string, string>>;

  /**
   * Use {@linkcode loadRegistry}, which validates the registry first.
   *
   * @param source Where the registry came from, for messages.
   * @param backends The validated backends, by name.
   * @param aliases Other names, each mapped to a backend's name.
   */
  constructor(
    source: string,
    backends: ReadonlyMap<string, RegisteredBackend>,
    aliases: Readonly<Record<string, string>>,
  ) {
    this.source = source;
    this.#backends = backends;
    this.#aliases = aliases;
  }

  /** The backends, by name. */
  get backends(): ReadonlyMap<string, RegisteredBackend> {
    return this.#backends;
  }

  /**
   * The backends that offer a snapshot mode, by name, in the registry's order.
   *
   * @param mode The mode, e.g. `"full"`.
   * @returns Their names.
   */
  offering(mode: SnapshotMode): string[] {
    return [...this.#backends.values()].filter((each) => each.modes.includes(mode))
      .map((each) => each.name);
  }

  /**
   * Resolves a backend name or alias to a registered backend.
   *
   * @param name A name from a bottle's metadata, e.g. `"docker"` or `""`.
   * @throws {BadInputError} When no backend has that name, listing the known ones.
   */
  resolve(name: string): RegisteredBackend {
    const canonical = (Object.hasOwn(this.#aliases, name) ? this.#aliases[name] : undefined) ??
      name;
    const backend = this.#backends.get(canonical);
    if (backend) return backend;
    const known = [...this.#backends.keys()].map((known) => `"${known}"`).join(", ");
    throw new BadInputError(
      `unknown backend ${JSON.stringify(name)}; known backends: ${known}` +
        (this.source === "built-in" ? "" : ` (from the registry ${this.source})`),
    );
  }

  /**
   * Builds the backend `name` (aliases resolved): what runs its bottles.
   *
   * @param name A backend name or alias.
   * @param options Where the backend logs, how it asks, and a hook for every command run.
   * @returns The backend.
   * @throws {BadInputError} When no backend has that name, listing the known ones.
   */
  getBackend(name: string, options: GetBackendOptions = {}): Backend {
    const backend = this.resolve(name);
    const commands = new BackendCommands(backend.name, backend.commands, {
      ...options,
      ...backend.requires === undefined ? {} : { requires: backend.requires },
      longRunning: backend.longRunning,
    });
    return new backend.freezer.Backend({
      backend: backend.name,
      names: [backend.name, ...backend.aliases],
      commands,
      ...backend.engine ? { engine: backend.engine } : {},
      ...backend.oci ? { oci: backend.oci } : {},
      naming: backend.naming,
    }, options);
  }

  /**
   * The factory: builds the freezer of the backend `name` (aliases
   * resolved), over that backend ({@linkcode Registry.getBackend}).
   *
   * @param name A backend name or alias.
   * @param options Where the freezer logs, how it asks, and a hook for every command run.
   * @returns A freezer for that backend.
   * @throws {BadInputError} When no backend has that name, listing the known ones.
   */
  getFreezer(name: string, options: GetFreezerOptions = {}): Freezer {
    return this.freezerOver(this.getBackend(name, options), options);
  }

  /**
   * Builds the freezer of a backend already built (by {@linkcode Registry.getBackend}).
   *
   * @param backend The backend.
   * @param options Where the freezer logs.
   * @returns A freezer over that backend.
   */
  freezerOver(backend: Backend, options: GetFreezerOptions = {}): Freezer {
    return new (this.resolve(backend.name).freezer)(backend, options);
  }
}

/** Options for {@linkcode loadRegistry}. */
export interface LoadRegistryOptions {
  /**
   * A registry file to load instead of the built-in one. Default: the
   * `BOT_BOTTLE_REGISTRY` environment variable, if set.
   */
  path?: string;
}

/**
 * Loads and validates a registry: its shape, every template's placeholders,
 * its aliases, and every freezer module with the commands it needs.
 *
 * @param options Which registry to load.
 * @returns The registry.
 * @throws {BadInputError} When the registry is invalid, naming the backend and field; or when
 * a registry file, or a freezer module on disk that it names, is writable by group or others.
 *
 * @example
 * ```ts
 * import { loadRegistry } from "@bot-bottle/bot-bottle";
 * const registry = await loadRegistry();
 * const freezer = registry.getFreezer(""); // an old state directory: docker
 * ```
 */
export async function loadRegistry(options: LoadRegistryOptions = {}): Promise<Registry> {
  const fromEnv = options.path === undefined;
  const path = options.path ?? (Deno.env.get("BOT_BOTTLE_REGISTRY") || undefined);
  if (path === undefined) return await builtIn();
  const url = pathToFileURL(resolve(path));
  const named = `the registry ${path}${fromEnv ? " (from BOT_BOTTLE_REGISTRY)" : ""}`;
  const orBuiltIn = fromEnv ? ", or unset BOT_BOTTLE_REGISTRY to use the built-in registry" : "";
  const cannotLoad = (what: string, next: string, error: unknown) =>
    new BadInputError(`${named} ${what}; ${next}${orBuiltIn}`, { cause: error });
  // One open file: its mode is checked on the very file that is then read.
  let file: Deno.FsFile | undefined;
  let text: string;
  try {
    file = await Deno.open(fileURLToPath(url), { read: true });
    const info = await file.stat();
    if (!info.isFile) {
      throw cannotLoad("is not a file", "point it at a registry JSON file", undefined);
    }
    const writable = modeIfWritableByOthers(info.mode);
    if (writable !== undefined) {
      throw new BadInputError(
        `${named} is writable by group or others (mode ${writable}), so they could choose the ` +
          `commands bot-bottle runs; run "chmod go-w ${path}"${orBuiltIn}`,
      );
    }
    const readable = file.readable;
    file = undefined; // the stream closes it
    text = await new Response(readable).text();
  } catch (error) {
    file?.close();
    if (error instanceof BadInputError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw cannotLoad("does not exist", "check the path", error);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw cannotLoad("cannot be read (permission denied)", "check its permissions", error);
    }
    throw cannotLoad(`cannot be read (${(error as Error).message})`, "check the path", error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw cannotLoad(`is not valid JSON (${whereInJson(text, error as Error)})`, "fix it", error);
  }
  return await buildRegistry(path, url, json);
}

/** Where a JSON parse failed, as "line L, column C", from the parser's message. */
function whereInJson(text: string, error: Error): string {
  const lineColumn = /line (\d+) column (\d+)/.exec(error.message);
  if (lineColumn) return `at line ${lineColumn[1]}, column ${lineColumn[2]}`;
  const position = /position (\d+)/.exec(error.message);
  if (!position) return text.trim() === "" ? "the file is empty" : "it ends too early";
  const before = text.slice(0, Number(position[1])).split("\n");
  return `at line ${before.length}, column ${(before.at(-1) ?? "").length + 1}`;
}

/** A registry entry as the registry keeps it, with its freezer class. */
function registered(
  name: string,
  entry: RegistryFile["backends"][string],
  aliases: Readonly<Record<string, string>>,
  freezer: FreezerClass,
): RegisteredBackend {
  return {
    name,
    aliases: Object.keys(aliases).filter((alias) => aliases[alias] === name),
    ...entry.description === undefined ? {} : { description: entry.description },
    ...entry.requires === undefined ? {} : { requires: entry.requires },
    module: entry.freezer,
    freezer,
    commands: entry.commands,
    ...entry.engine ? { engine: entry.engine } : {},
    ...entry.oci ? { oci: entry.oci } : {},
    naming: namingOf(entry.naming),
    longRunning: entry.longRunning ?? [],
    modes: entry.modes ?? ["disk"],
  };
}

/**
 * The built-in registry, loaded without being validated on every run: it is
 * part of the program, and tests/lib/registry_test.ts validates it as any
 * registry file is. Its freezer modules load side by side.
 */
async function builtIn(): Promise<Registry> {
  const file = builtinRegistry as RegistryFile;
  const aliases = file.aliases ?? {};
  const entries = Object.entries(file.backends);
  const freezers = await Promise.all(
    entries.map(([name, entry]) =>
      loadFreezerModule(BUILTIN_URL, name, entry.freezer, (problem): never => {
        throw new BadInputError(`registry built-in is invalid: ${problem}`);
      }, false)
    ),
  );
  const backends = new Map<string, RegisteredBackend>();
  entries.forEach(([name, entry], index) => {
    backends.set(name, registered(name, entry, aliases, freezers[index]!));
  });
  return new Registry("built-in", backends, aliases);
}

/**
 * Validates the built-in registry as {@linkcode loadRegistry} validates a
 * registry file (its shape, templates, aliases, and the commands each freezer
 * needs), which it skips at run time. For tests.
 *
 * @returns The registry so validated.
 * @throws {BadInputError} When it is invalid.
 */
export async function validateBuiltinRegistry(): Promise<Registry> {
  return await buildRegistry("built-in", BUILTIN_URL, builtinRegistry);
}

async function buildRegistry(source: string, url: URL, json: unknown): Promise<Registry> {
  const fail = (problem: string): never => {
    throw new BadInputError(`registry ${source} is invalid: ${problem}`);
  };
  const parsed = v.safeParse(RegistrySchema, json);
  if (!parsed.success) fail(describeIssues(parsed.issues).join("; "));
  const file = (parsed as { output: RegistryFile }).output;

  const aliases = file.aliases ?? {};
  for (const [alias, target] of Object.entries(aliases)) {
    if (Object.hasOwn(file.backends, alias)) {
      fail(`aliases.${JSON.stringify(alias)} is also a backend's name`);
    }
    if (!Object.hasOwn(file.backends, target)) {
      fail(`aliases.${JSON.stringify(alias)} points to "${target}", which is not a backend`);
    }
  }

  const backends = new Map<string, RegisteredBackend>();
  for (const [name, entry] of Object.entries(file.backends)) {
    for (const [command, template] of Object.entries(entry.commands)) {
      const field = `backends.${name}.commands.${command}`;
      const problem = templateProblem(template);
      if (problem) fail(`${field}: ${problem}`);
      for (const placeholder of placeholdersOf(template)) {
        if (!Object.hasOwn(PLACEHOLDERS, placeholder)) {
          const known = Object.keys(PLACEHOLDERS).map((known) => `{${known}}`).join(", ");
          fail(`${field}: unknown placeholder {${placeholder}}; known placeholders: ${known}`);
        }
      }
    }
    const freezer = await loadFreezerModule(url, name, entry.freezer, fail, source !== "built-in");
    if (freezer.Backend.needsEngine && !entry.engine) {
      fail(`backends.${name}.engine is missing; ${entry.freezer} needs it`);
    }
    const patterns = [
      ...Object.entries(entry.engine?.errors ?? {}).map((
        [kind, p],
      ) => [`engine.errors.${kind}`, p]),
      ...Object.entries(entry.oci?.errors ?? {}).map(([kind, p]) => [`oci.errors.${kind}`, p]),
      ...entry.oci?.digest ? [["oci.digest", entry.oci.digest]] : [],
    ];
    for (const [field, pattern] of patterns) {
      try {
        new RegExp(pattern!, "i");
      } catch (error) {
        fail(`backends.${name}.${field}: ${(error as Error).message}`);
      }
    }
    for (const command of freezer.Backend.requiredCommands) {
      if (!Object.hasOwn(entry.commands, command)) {
        fail(`backends.${name}.commands.${command} is missing; ${entry.freezer} needs it`);
      }
    }
    for (const mode of entry.modes ?? []) {
      if (!freezer.modes.includes(mode)) {
        fail(
          `backends.${name}.modes names "${mode}", which ${entry.freezer} does not implement ` +
            `(it offers ${freezer.modes.map((each) => `"${each}"`).join(", ")})`,
        );
      }
    }
    for (const command of entry.longRunning ?? []) {
      if (!Object.hasOwn(entry.commands, command)) {
        fail(`backends.${name}.longRunning names "${command}", which is not one of its commands`);
      }
    }
    backends.set(name, registered(name, entry, aliases, freezer));
  }
  return new Registry(source, backends, aliases);
}

/**
 * The factory over the default registry ({@linkcode loadRegistry}): resolves
 * aliases and builds the named backend's freezer.
 *
 * @param name A backend name or alias (`""` is docker).
 * @param options Where the freezer logs, how it asks, and a hook for every command run.
 * @returns The freezer.
 * @throws {BadInputError} When the registry is invalid or no backend has that
 * name; the message lists the known backends.
 *
 * @example
 * ```ts
 * import { getFreezer } from "@bot-bottle/bot-bottle";
 * const freezer = await getFreezer("docker");
 * ```
 */
export async function getFreezer(name: string, options: GetFreezerOptions = {}): Promise<Freezer> {
  return (await loadRegistry()).getFreezer(name, options);
}
