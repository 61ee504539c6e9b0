/**
 * A bottle's state directory, `~/.bot-bottle/state/<slug>/`, exactly as the
 * existing launcher reads and writes it (see `docs/state.md`).
 *
 * @module
 */

import { join, resolve } from "node:path";
import { writeFileAtomic, writeFilesTogether } from "./atomic_write.ts";
import { BadInputError } from "./errors.ts";
import { type Metadata, validateMetadata } from "./metadata.ts";
import { parseRunConfig, type RunConfig } from "./run_config.ts";
import { emptyHistory, type History, HISTORY_FILE, parseHistory } from "./snapshot_history.ts";
import { isSlug, parseSlug } from "./slug.ts";

/** The name of the file that holds the committed artifact's reference. */
export const COMMITTED_IMAGE_FILE = "committed-image";
/** The marker that makes the launcher keep the directory at session end. */
export const PRESERVE_FILE = ".preserve";
/** The launcher's metadata file. */
export const METADATA_FILE = "metadata.json";
/** bot-bottle's record of how the bottle ran, written by a commit, read by resume. */
export const RUN_CONFIG_FILE = "run-config.json";

/**
 * Where bot-bottle keeps its state: `$BOT_BOTTLE_HOME` when set, else
 * `$HOME/.bot-bottle`, as the launcher derives it.
 *
 * @param env The environment to read (default: the process's).
 * @returns The absolute root directory.
 * @throws {BadInputError} When neither variable is set.
 */
export function stateRoot(env: Pick<Deno.Env, "get"> = Deno.env): string {
  const override = env.get("BOT_BOTTLE_HOME");
  if (override) return resolve(override);
  const home = env.get("HOME");
  if (!home) {
    throw new BadInputError(
      "cannot find the state directory: HOME is not set; set HOME or BOT_BOTTLE_HOME",
    );
  }
  return resolve(home, ".bot-bottle");
}

/** One bottle's state directory. Reads and writes never follow a missing directory. */
export class BottleState {
  /** The bottle's slug. */
  readonly slug: string;
  /** The state root, e.g. `~/.bot-bottle`. */
  readonly root: string;
  /** The state directory, `<root>/state/<slug>`. */
  readonly dir: string;

  /**
   * Names the state directory of `slug`; nothing is read or created yet.
   *
   * @param slug The bottle's slug.
   * @param root The state root (default {@linkcode stateRoot}).
   * @throws {BadInputError} When `slug` breaks the slug rule.
   */
  constructor(slug: string, root: string = stateRoot()) {
    this.slug = parseSlug(slug);
    this.root = root;
    this.dir = join(root, "state", this.slug);
  }

  /** The path of a file in the state directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Reads and validates `metadata.json`.
   *
   * @returns The metadata, unknown fields included.
   * @throws {BadInputError} When the directory or the file is missing, or the
   * file is not a JSON object of the launcher's shape.
   */
  async readMetadata(): Promise<Metadata> {
    const file = this.path(METADATA_FILE);
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new BadInputError(`cannot read ${file}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (await isDirectory(this.dir)) {
        throw new BadInputError(
          `bottle "${this.slug}" has no ${METADATA_FILE} in ${this.dir}; it was not started by ` +
            `bot-bottle, or its start did not finish`,
          { cause: error },
        );
      }
      throw new BadInputError(
        `bottle "${this.slug}" has no state at ${this.dir}; check the slug: ` +
          `"bot-bottle ls" lists the known bottles`,
        { cause: error },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new BadInputError(
        `${file} is not valid JSON (${(error as Error).message}); fix or restore the file`,
        { cause: error },
      );
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new BadInputError(`${file} must hold a JSON object; fix or restore the file`);
    }
    const result = validateMetadata(parsed);
    if (!result.ok) {
      throw new BadInputError(
        `${file} has fields of the wrong type (${result.problems.join("; ")}); ` +
          `fix or restore the file`,
      );
    }
    return result.metadata;
  }

  /**
   * Replaces `metadata.json` atomically, keeping every field of `metadata`,
   * including ones bot-bottle does not know.
   *
   * @param metadata The metadata to write.
   */
  async writeMetadata(metadata: Metadata): Promise<void> {
    await writeFileAtomic(this.path(METADATA_FILE), jsonText(metadata));
  }

  /**
   * Reads the committed artifact's reference.
   *
   * @returns The reference without its trailing newline, or `undefined` when
   * the bottle has no snapshot.
   */
  async readCommittedImage(): Promise<string | undefined> {
    try {
      const text = await Deno.readTextFile(this.path(COMMITTED_IMAGE_FILE));
      const reference = text.replace(/\r?\n$/, "");
      return reference === "" ? undefined : reference;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw new BadInputError(
        `cannot read ${this.path(COMMITTED_IMAGE_FILE)} (${(error as Error).message}); ` +
          `it must be a file naming the snapshot: fix or remove it`,
        { cause: error },
      );
    }
  }

  /**
   * Records the committed artifact's reference: one line and a newline,
   * replaced atomically.
   *
   * @param reference An image reference, or the absolute path of a `.smolmachine`.
   * @throws {TypeError} When `reference` is empty or spans lines.
   */
  async writeCommittedImage(reference: string): Promise<void> {
    await writeFileAtomic(this.path(COMMITTED_IMAGE_FILE), referenceLine(reference));
  }

  /**
   * Reads the run configuration a commit recorded.
   *
   * @returns It, or `undefined` when none was recorded.
   * @throws {BadInputError} When the file is not a run configuration.
   */
  async readRunConfig(): Promise<RunConfig | undefined> {
    const file = this.path(RUN_CONFIG_FILE);
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    let config: RunConfig | undefined;
    try {
      config = parseRunConfig(JSON.parse(text));
    } catch {
      config = undefined;
    }
    if (!config) {
      throw new BadInputError(`${file} is not a valid run configuration; commit the bottle again`);
    }
    return config;
  }

  /**
   * Reads the snapshot history. A bottle committed before histories were
   * kept (by the launcher, or an older bot-bottle) has one snapshot, with the
   * id `legacy`: the artifact `committed-image` names.
   *
   * @param backend The bottle's backend, for a legacy snapshot's record.
   * @returns The history, oldest snapshot first.
   * @throws {BadInputError} When `snapshots.json` is not a history.
   */
  async readHistory(backend: string): Promise<History> {
    const file = this.path(HISTORY_FILE);
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return parseHistory(json, file);
    }
    const history = emptyHistory();
    const artifact = await this.readCommittedImage();
    if (artifact !== undefined) {
      const info = await Deno.stat(this.path(COMMITTED_IMAGE_FILE));
      history.snapshots.push({
        id: "legacy",
        createdAt: (info.mtime ?? new Date()).toISOString(),
        backend,
        artifact,
        sizeBytes: null,
        parent: null,
        toolVersion: "unknown",
        message: null,
      });
    }
    return history;
  }

  /** Replaces `snapshots.json` atomically. */
  async writeHistory(history: History): Promise<void> {
    await writeFileAtomic(this.path(HISTORY_FILE), jsonText(history));
  }

  /**
   * Records a commit (or an import) as one change: the metadata when given,
   * the history, the run configuration, the new `committed-image`, and
   * `.preserve`. When any write fails, every file is as it was.
   *
   * @param commit What to record.
   * @throws {TypeError} When the reference is empty or spans lines (nothing is written).
   */
  async recordCommit(commit: {
    history: History;
    runConfig?: RunConfig;
    committedImage: string;
    metadata?: Metadata;
  }): Promise<void> {
    const reference = referenceLine(commit.committedImage);
    await writeFilesTogether([
      ...commit.metadata
        ? [{ path: this.path(METADATA_FILE), content: jsonText(commit.metadata) }]
        : [],
      { path: this.path(HISTORY_FILE), content: jsonText(commit.history) },
      ...commit.runConfig
        ? [{ path: this.path(RUN_CONFIG_FILE), content: jsonText(commit.runConfig) }]
        : [],
      { path: this.path(COMMITTED_IMAGE_FILE), content: reference },
      ...(await this.isPreserved()) ? [] : [{ path: this.path(PRESERVE_FILE), content: "" }],
    ]);
  }

  /** Tells whether the bottle is marked to be kept at session end. */
  async isPreserved(): Promise<boolean> {
    try {
      await Deno.lstat(this.path(PRESERVE_FILE));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /** Removes the `.preserve` marker, if there is one. */
  async clearPreserved(): Promise<void> {
    await Deno.remove(this.path(PRESERVE_FILE)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Creates the empty `.preserve` marker (kept as it is when present). */
  async markPreserved(): Promise<void> {
    if (await this.isPreserved()) return;
    await writeFileAtomic(this.path(PRESERVE_FILE), "");
  }
}

/** The content of one of the state's JSON files: indented, ending in a newline. */
function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/** `committed-image`'s content: the reference and a newline. */
function referenceLine(reference: string): string {
  if (reference === "" || /[\r\n]/.test(reference)) {
    throw new TypeError(
      `artifact reference must be one non-empty line, got ${JSON.stringify(reference)}`,
    );
  }
  return reference + "\n";
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Lists the slugs that have a state directory under `root`, sorted. Entries
 * whose names break the slug rule are skipped.
 *
 * @param root The state root (default {@linkcode stateRoot}).
 * @returns The slugs.
 */
export async function listStateSlugs(root: string = stateRoot()): Promise<string[]> {
  const slugs: string[] = [];
  try {
    for await (const entry of Deno.readDir(join(root, "state"))) {
      if (entry.isDirectory && isSlug(entry.name)) slugs.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return slugs.sort();
}
