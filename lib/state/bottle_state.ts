/**
 * A bottle's state directory, `~/.bot-bottle/state/<slug>/`, exactly as the
 * existing launcher reads and writes it (see `docs/state.md`).
 *
 * The directory and its files may have been changed by anyone, so every read
 * goes through one checked reader: a state directory or a file in it that is
 * a symbolic link, or not what it should be (a directory, a regular file), is
 * refused and never followed; no file is read past
 * {@linkcode MAX_STATE_FILE_BYTES}; no JSON nested deeper than
 * {@linkcode MAX_JSON_DEPTH} is parsed. The state root itself may be a link.
 *
 * @module
 */

import { join } from "node:path";
import {
  type FileRead,
  type FileSplice,
  MAX_HISTORY_FILE_BYTES,
  MAX_JSON_DEPTH,
  MAX_STATE_FILE_BYTES,
  readFileNoFollow,
  writeFilesTogether,
} from "./atomic_write.ts";
import { BadInputError } from "../errors.ts";
import { type Metadata, validateMetadata } from "./metadata.ts";
import { parseRunConfig, type RunConfig } from "./run_config.ts";
import {
  grownHistoryBytes,
  type History,
  HISTORY_FILE,
  historyTooLarge,
  legacyHistory,
  parseHistory,
  quickHistory,
  type SnapshotRecord,
} from "./snapshot_history.ts";
import { parseSlug } from "./slug.ts";
import {
  decodeText,
  historyText,
  jsonText,
  maxBytesOf,
  parseOrUndefined,
  parseStateJson,
  referenceLine,
} from "../_internal/state_text.ts";
import { stateRoot } from "./state_root.ts";
import { checkStateDirectory } from "../_internal/state_dir.ts";
import {
  type HistoryAddition,
  historySplice,
  RecentHistory,
  recentHistory,
  recoverHistory,
  recoveryWarning,
} from "./history_tail.ts";

/** The name of the file that holds the committed artifact's reference. */
export const COMMITTED_IMAGE_FILE = "committed-image";
/** The marker that makes the launcher keep the directory at session end. */
export const PRESERVE_FILE = ".preserve";
/** The launcher's metadata file. */
export const METADATA_FILE = "metadata.json";
/** bot-bottle's record of how the bottle ran, written by a commit, read by resume. */
export const RUN_CONFIG_FILE = "run-config.json";
export { MAX_HISTORY_FILE_BYTES, MAX_JSON_DEPTH, MAX_STATE_FILE_BYTES };
export { listStateSlugs, stateRoot } from "./state_root.ts";

/**
 * One bottle's state directory. Reads and writes never follow a missing
 * directory, nor a symbolic link in place of the directory or of a file.
 */
export class BottleState {
  #metadataText: string | undefined;
  #warnedRecovery = false;
  /**
   * Where a warning about the state goes (a history recovered from a
   * cut-short addition): nowhere unless an operation sets it, once a command.
   */
  warn: (line: string) => void = () => {};
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
   * @throws {BadInputError} When the directory or the file is missing, a
   * symbolic link or not a regular file; or the file is larger than
   * {@linkcode MAX_STATE_FILE_BYTES}, nested deeper than
   * {@linkcode MAX_JSON_DEPTH}, or not a JSON object of the launcher's shape.
   */
  async readMetadata(): Promise<Metadata> {
    const file = this.path(METADATA_FILE);
    if (!(await this.checkDirectory())) throw this.noState();
    const read = await readFileNoFollow(file);
    if (read === undefined) {
      throw new BadInputError(
        `bottle "${this.slug}" has no ${METADATA_FILE} in ${this.dir}; it was not started by ` +
          `bot-bottle, or its start did not finish`,
      );
    }
    const parsed = parseStateJson(read.data, file);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new BadInputError(`${file} must hold a JSON object; fix or restore the file`);
    }
    const result = validateMetadata(parsed);
    if (!result.ok) {
      throw new BadInputError(
        `${file} has fields of the wrong type (${
          result.problems.slice(0, 3).join("; ")
        }); fix or restore the file`,
      );
    }
    this.#metadataText = decodeText(read.data, file);
    return result.metadata;
  }

  /**
   * Replaces `metadata.json` atomically, keeping every field of `metadata`,
   * including ones bot-bottle does not know. The file gets mode 0600, also
   * when the launcher wrote it 0644.
   *
   * @param metadata The metadata to write.
   * @throws {BadInputError} When the directory or the file is a symbolic
   * link, or not what it should be; nothing is written.
   */
  async writeMetadata(metadata: Metadata): Promise<void> {
    await this.#write([{ name: METADATA_FILE, content: jsonText(metadata) }]);
  }

  /**
   * Reads the committed artifact's reference.
   *
   * @returns The reference without its trailing newline, or `undefined` when
   * the bottle has no snapshot.
   * @throws {BadInputError} When `committed-image` or the directory is a
   * symbolic link, or not a regular file.
   */
  async readCommittedImage(): Promise<string | undefined> {
    return (await this.readCommittedImageRecord())?.reference;
  }

  /**
   * Reads the committed artifact's reference and when it was recorded.
   *
   * @returns The reference without its trailing newline and the file's
   * modification time, or `undefined` when the bottle has no snapshot.
   * @throws {BadInputError} When `committed-image` or the directory is a
   * symbolic link, or not a regular file.
   */
  async readCommittedImageRecord(): Promise<
    { reference: string; recordedAt: Date | null } | undefined
  > {
    const read = await this.#read(COMMITTED_IMAGE_FILE);
    if (read === undefined) return undefined;
    const reference = decodeText(read.data, this.path(COMMITTED_IMAGE_FILE))
      .replace(/\r?\n$/, "");
    return reference === "" ? undefined : { reference, recordedAt: read.info.mtime };
  }

  /**
   * Records the committed artifact's reference: one line and a newline,
   * replaced atomically.
   *
   * @param reference An image reference, or the absolute path of a `.smolmachine`.
   * @throws {TypeError} When `reference` is empty or spans lines.
   * @throws {BadInputError} When the directory or the file is a symbolic
   * link, or not what it should be; nothing is written.
   * @deprecated Nothing in bot-bottle uses it, and it writes `committed-image`
   * apart from the history: use {@linkcode BottleState.recordCommit}, which
   * writes both all or nothing.
   */
  async writeCommittedImage(reference: string): Promise<void> {
    await this.#write([{ name: COMMITTED_IMAGE_FILE, content: referenceLine(reference) }]);
  }

  /**
   * Reads the run configuration a commit recorded.
   *
   * @returns It, or `undefined` when none was recorded.
   * @throws {BadInputError} When the file is not a run configuration, or it
   * or the directory is a symbolic link or not a regular file.
   */
  async readRunConfig(): Promise<RunConfig | undefined> {
    const file = this.path(RUN_CONFIG_FILE);
    const read = await this.#read(RUN_CONFIG_FILE);
    if (read === undefined) return undefined;
    let config: RunConfig | undefined;
    try {
      config = parseRunConfig(parseStateJson(read.data, file));
    } catch (error) {
      if (!(error instanceof BadInputError)) throw error;
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
   * @throws {BadInputError} When `snapshots.json` is not a history, or it,
   * `committed-image` or the directory is a symbolic link or not a regular file.
   */
  async readHistory(backend: string): Promise<History> {
    const read = await this.#read(HISTORY_FILE);
    if (read === undefined) return legacyHistory(await this.readCommittedImageRecord(), backend);
    return this.#parseHistory(read, decodeText(read.data, this.path(HISTORY_FILE)));
  }

  /**
   * Reads the history as a commit needs it: in bot-bottle's layout, only its
   * first line, its last record and the ids of a second, so that a commit
   * costs the same with 10,000 snapshots as with one (see
   * `lib/state/history_tail.ts`); any other history whole, as
   * {@linkcode BottleState.readHistory} does.
   *
   * @param backend The bottle's backend, for a legacy snapshot's record.
   * @throws {BadInputError} As {@linkcode BottleState.readHistory}.
   */
  async readRecentHistory(backend: string): Promise<RecentHistory> {
    const read = await this.#read(HISTORY_FILE);
    if (read === undefined) {
      const legacy = legacyHistory(await this.readCommittedImageRecord(), backend);
      return new RecentHistory(() => legacy);
    }
    const text = decodeText(read.data, this.path(HISTORY_FILE));
    return recentHistory(read, text, () => this.#parseHistory(read, text));
  }

  /** A history's text parsed whole: quickly, else recovered from a cut-short addition, else refused. */
  #parseHistory(read: FileRead, text: string): History {
    // The quick way for a file bot-bottle wrote (a valid history nests 3 deep, and V8's
    // JSON.parse does not recurse); anything else goes the checked way, for its message.
    const quick = quickHistory(parseOrUndefined(text));
    if (quick) return quick;
    const file = this.path(HISTORY_FILE);
    const recovered = recoverHistory(text);
    if (!recovered) return parseHistory(parseStateJson(read.data, file), file);
    if (!this.#warnedRecovery) this.warn(recoveryWarning(file, recovered));
    this.#warnedRecovery = true;
    return recovered.history;
  }

  /**
   * Refuses, before anything is made, a snapshot whose record would grow
   * `snapshots.json` past {@linkcode MAX_HISTORY_FILE_BYTES}, which
   * bot-bottle could then no longer read.
   *
   * @param record The new snapshot's record, its artifact and size not yet known.
   * @throws {BadInputError} When it would, saying to prune.
   */
  async checkHistoryRoom(record: SnapshotRecord): Promise<void> {
    const size = await Deno.lstat(this.path(HISTORY_FILE)).then((info) => info.size, () => 0);
    const grown = grownHistoryBytes(size, record);
    if (grown > MAX_HISTORY_FILE_BYTES) throw this.historyFull(grown);
  }

  /** The refusal of a history that would grow to `bytes`. */
  historyFull(bytes: number): BadInputError {
    return historyTooLarge(this.slug, bytes);
  }

  /**
   * Replaces `snapshots.json` atomically.
   *
   * @throws {BadInputError} When the directory or the file is a symbolic
   * link, or not what it should be; nothing is written.
   */
  async writeHistory(history: History): Promise<void> {
    await this.#write([{ name: HISTORY_FILE, content: historyText(history) }]);
  }

  /**
   * Records a commit (or an import) as one change: the metadata when given,
   * the history, the run configuration, the new `committed-image`, and
   * `.preserve`. When any write fails, every file is as it was.
   *
   * @param commit What to record.
   * @throws {TypeError} When the reference is empty or spans lines (nothing is written).
   * @throws {BadInputError} When the directory or one of the files is a
   * symbolic link or of the wrong kind (nothing is written).
   */
  async recordCommit(commit: {
    history: History | HistoryAddition;
    runConfig?: RunConfig;
    committedImage: string;
    metadata?: Metadata;
  }): Promise<void> {
    const reference = referenceLine(commit.committedImage);
    await this.#write([
      ...commit.metadata ? [{ name: METADATA_FILE, content: jsonText(commit.metadata) }] : [],
      "record" in commit.history
        ? { name: HISTORY_FILE, splice: historySplice(commit.history) }
        : { name: HISTORY_FILE, content: historyText(commit.history) },
      ...commit.runConfig ? [{ name: RUN_CONFIG_FILE, content: jsonText(commit.runConfig) }] : [],
      { name: COMMITTED_IMAGE_FILE, content: reference },
      ...(await this.isPreserved()) ? [] : [{ name: PRESERVE_FILE, content: "" }],
    ]);
  }

  /**
   * Tells whether the bottle is marked to be kept at session end.
   *
   * @throws {BadInputError} When `.preserve` or the directory is a symbolic
   * link, or `.preserve` is not a regular file.
   */
  async isPreserved(): Promise<boolean> {
    // Only its existence counts, but it is read as any state file is: a link is refused.
    return (await this.#read(PRESERVE_FILE)) !== undefined;
  }

  /** Removes the `.preserve` marker, if there is one. */
  async clearPreserved(): Promise<void> {
    await this.checkDirectory();
    await Deno.remove(this.path(PRESERVE_FILE)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Creates the empty `.preserve` marker (kept as it is when present). */
  async markPreserved(): Promise<void> {
    if (await this.isPreserved()) return;
    await this.#write([{ name: PRESERVE_FILE, content: "" }]);
  }

  /**
   * The text of `metadata.json` as {@linkcode BottleState.readMetadata} last
   * read and validated it (`undefined` before), so an operation that carries
   * the file on (export) reads it once.
   */
  get metadataText(): string | undefined {
    return this.#metadataText;
  }

  /**
   * Reads a file of the state directory as text, as every read of the state
   * does: a link, a non-regular file or one over {@linkcode MAX_STATE_FILE_BYTES}
   * is refused.
   *
   * @param name The file's name in the state directory, e.g. `"metadata.json"`.
   * @returns Its text, or `undefined` when there is no such file (or directory).
   * @throws {BadInputError} When the directory or the file is refused, or the
   * file is not UTF-8 text.
   * @throws {TypeError} When `name` is not a plain file name (it holds `/`, or is `..`).
   */
  async readText(name: string): Promise<string | undefined> {
    const read = await this.#read(name);
    return read === undefined ? undefined : decodeText(read.data, this.path(name));
  }

  /** The error for a bottle that has no state directory. */
  noState(): BadInputError {
    return new BadInputError(
      `bottle "${this.slug}" has no state at ${this.dir}; check the slug: ` +
        `"bot-bottle ls" lists the known bottles`,
    );
  }

  /**
   * Checks the state directory itself, as every read and write here does
   * first: it must be a directory, not a symbolic link (which is never
   * followed) nor anything else.
   *
   * @returns Whether it exists.
   * @throws {BadInputError} When it is a symbolic link or not a directory.
   */
  checkDirectory(): Promise<boolean> {
    return checkStateDirectory(this.dir, this.slug);
  }

  /**
   * The one writer of the state: the directory checked, then the files
   * replaced together, mode 0600; a file that is a link or not a regular file
   * is refused before anything is written.
   */
  async #write(
    files: ({ name: string; content: string } | { name: string; splice: FileSplice })[],
  ): Promise<void> {
    await this.checkDirectory();
    // Nothing is written that the reader would refuse.
    for (const file of files) {
      const { name } = file;
      const bytes = "splice" in file
        ? file.splice.at + file.splice.content.byteLength
        : new TextEncoder().encode(file.content).byteLength;
      if (bytes <= maxBytesOf(name)) continue;
      if (name === HISTORY_FILE) throw this.historyFull(bytes);
      throw new BadInputError(
        `${this.path(name)} would grow to ${bytes} bytes, past the ${maxBytesOf(name)} ` +
          `bot-bottle reads; nothing was changed`,
      );
    }
    await writeFilesTogether(
      files.map((file) =>
        "splice" in file
          ? { path: this.path(file.name), splice: file.splice }
          : { path: this.path(file.name), content: file.content, maxBytes: maxBytesOf(file.name) }
      ),
    );
  }

  /** The one reader of the state: the directory checked, the file read without following links. */
  async #read(name: string): Promise<FileRead | undefined> {
    if (name.includes("/") || name === "." || name === ".." || name === "") {
      throw new TypeError(
        `a state file's name must be a plain file name, not ${JSON.stringify(name)}`,
      );
    }
    if (!(await this.checkDirectory())) return undefined;
    return await readFileNoFollow(this.path(name), maxBytesOf(name));
  }
}
