/**
 * A bottle's snapshot history: every commit kept, with its lineage, in the
 * state directory's `snapshots.json`. `committed-image` keeps naming the
 * newest, so the launcher still resumes the newest snapshot.
 *
 * @module
 */

import * as v from "valibot";
import { BadInputError } from "../errors.ts";
import { MAX_HISTORY_FILE_BYTES } from "./atomic_write.ts";
import { describeIssues } from "../registry/schema_issues.ts";

/** The name of the history file in a state directory. */
export const HISTORY_FILE = "snapshots.json";

const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const PushSchema = v.object({
  ref: v.string(),
  digest: v.string(),
  pushedAt: v.string(),
});

const RecordSchema = v.object({
  id: v.pipe(v.string(), v.regex(SNAPSHOT_ID)),
  createdAt: v.string(),
  backend: v.string(),
  artifact: v.string(),
  sizeBytes: v.nullable(v.number()),
  parent: v.nullable(v.string()),
  toolVersion: v.string(),
  message: v.nullable(v.string()),
  mode: v.exactOptional(v.picklist(["disk", "full"])),
  pushes: v.exactOptional(v.array(PushSchema)),
});

/** The schema of `snapshots.json`, which {@linkcode parseHistory} describes refusals by. */
export const HistorySchema = v.object({
  version: v.literal(1),
  snapshots: v.array(RecordSchema),
  resumedFrom: v.nullable(v.string()),
});

/** One snapshot of a bottle. */
export interface SnapshotRecord {
  /** Its id: the UTC time of the commit, e.g. `20261124T141500Z` (`-2`, `-3`… when taken). */
  id: string;
  /** When it was made, ISO 8601. */
  createdAt: string;
  /** The backend that made it. */
  backend: string;
  /** The artifact: an image tag `bot-bottle-committed-<slug>:<id>`, or a `.smolmachine` path. */
  artifact: string;
  /** Its size in bytes, when the backend told. */
  sizeBytes: number | null;
  /** The snapshot the bottle was resumed from when this one was made. */
  parent: string | null;
  /** The bot-bottle version that made it. */
  toolVersion: string;
  /** The user's note (`commit --message`). */
  message: string | null;
  /**
   * What it holds: `disk` (the filesystem) or `full` (memory and disk,
   * resumed with its processes). Absent in records written before modes
   * existed, which are `disk`.
   */
  mode?: "disk" | "full";
  /** Where `bot-bottle push` pushed it, oldest first (absent: never pushed). */
  pushes?: PushRecord[];
}

/** One push of a snapshot to a registry. */
export interface PushRecord {
  /** The reference pushed, with its tag: `host/repository:tag`. */
  ref: string;
  /** The snapshot's digest there, `sha256:…`. */
  digest: string;
  /** When, ISO 8601. */
  pushedAt: string;
}

/** A bottle's history. */
export interface History {
  /** The format version of `snapshots.json`. */
  version: 1;
  /** The snapshots, oldest first. */
  snapshots: SnapshotRecord[];
  /** The snapshot the bottle now running was resumed from, if it was. */
  resumedFrom: string | null;
}

/** An empty history. */
export function emptyHistory(): History {
  return { version: 1, snapshots: [], resumedFrom: null };
}

/**
 * Validates parsed `snapshots.json`.
 *
 * @param value The parsed JSON.
 * @param file The file, for the message.
 * @returns The history.
 * @throws {BadInputError} When it is not a history.
 */
export function parseHistory(value: unknown, file: string): History {
  const history = quickHistory(value);
  if (history !== undefined) return history;
  const result = v.safeParse(HistorySchema, value);
  if (result.success) return result.output;
  throw new BadInputError(
    `${file} is not a valid snapshot history (${
      describeIssues(result.issues).slice(0, 3).join("; ")
    }); ` +
      `fix or restore the file`,
  );
}

/**
 * A new snapshot id: the UTC time to the second, `YYYYMMDDTHHMMSSZ`, with
 * `-2`, `-3`… appended when a snapshot of that second exists.
 *
 * @param now The time of the commit.
 * @param taken The ids the bottle already has.
 * @returns A unique id.
 */
export function newSnapshotId(now: Date, taken: Iterable<string>): string {
  const base = snapshotIdBase(now);
  const used = new Set(taken);
  if (!used.has(base)) return base;
  for (let n = 2;; n++) if (!used.has(`${base}-${n}`)) return `${base}-${n}`;
}

/**
 * The id a snapshot made at `now` gets unless it is taken: the UTC time to
 * the second, `YYYYMMDDTHHMMSSZ`.
 */
export function snapshotIdBase(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
}

/**
 * Finds a snapshot by id, or by `~N` (N snapshots back from the newest:
 * `~0` is the newest).
 *
 * @param history The bottle's history.
 * @param at An id or `~N`.
 * @param slug The bottle, for messages.
 * @returns The snapshot.
 * @throws {BadInputError} When there is no such snapshot.
 */
export function findSnapshot(history: History, at: string, slug: string): SnapshotRecord {
  const back = at.match(/^~(\d+)$/);
  const found = back
    ? history.snapshots.at(-1 - Number(back[1]))
    : history.snapshots.find((record) => record.id === at);
  if (found) return found;
  const ids = history.snapshots.map((record) => record.id).reverse();
  throw new BadInputError(
    `bottle "${slug}" has no snapshot ${JSON.stringify(at)}` +
      (ids.length === 0
        ? "; it has none: commit it first"
        : `; it has ${ids.length} (newest first: ${ids.slice(0, 5).join(", ")}${
          ids.length > 5 ? ", …" : ""
        }); see "bot-bottle snapshots ${slug}"`),
  );
}

/**
 * What {@linkcode parseHistory} gives for a valid history, without valibot:
 * ten times quicker on 10,000 snapshots, where valibot took most of a read.
 *
 * @param value A parsed `snapshots.json`.
 * @returns The history, or `undefined` for anything else, which
 * {@linkcode parseHistory} then describes.
 */
export function quickHistory(value: unknown): History | undefined {
  if (!isObject(value) || value.version !== 1 || !Array.isArray(value.snapshots)) return;
  const { resumedFrom } = value;
  if (resumedFrom !== null && typeof resumedFrom !== "string") return;
  const snapshots: SnapshotRecord[] = new Array(value.snapshots.length);
  for (let i = 0; i < snapshots.length; i++) {
    const record = quickRecord(value.snapshots[i]);
    if (record === undefined) return;
    snapshots[i] = record;
  }
  return { version: 1, snapshots, resumedFrom };
}

/**
 * One record of a history, checked as {@linkcode quickHistory} checks each.
 *
 * @param record A parsed record.
 * @returns The record (unknown fields dropped), or `undefined` when it is not one.
 */
export function quickRecord(record: unknown): SnapshotRecord | undefined {
  if (
    !isObject(record) || typeof record.id !== "string" || !SNAPSHOT_ID.test(record.id) ||
    typeof record.createdAt !== "string" || typeof record.backend !== "string" ||
    typeof record.artifact !== "string" ||
    (record.sizeBytes !== null && typeof record.sizeBytes !== "number") ||
    (record.parent !== null && typeof record.parent !== "string") ||
    typeof record.toolVersion !== "string" ||
    (record.message !== null && typeof record.message !== "string") ||
    (record.mode !== undefined && record.mode !== "disk" && record.mode !== "full")
  ) return;
  const pushes = record.pushes;
  if (
    pushes !== undefined &&
    (!Array.isArray(pushes) ||
      !pushes.every((push: unknown) =>
        isObject(push) && typeof push.ref === "string" && typeof push.digest === "string" &&
        typeof push.pushedAt === "string"
      ))
  ) return;
  return {
    id: record.id,
    createdAt: record.createdAt,
    backend: record.backend,
    artifact: record.artifact,
    sizeBytes: record.sizeBytes,
    parent: record.parent,
    toolVersion: record.toolVersion,
    message: record.message,
    ...record.mode === undefined ? {} : { mode: record.mode },
    ...pushes === undefined ? {} : {
      pushes: (pushes as PushRecord[]).map(({ ref, digest, pushedAt }) => ({
        ref,
        digest,
        pushedAt,
      })),
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The history of a bottle committed before histories were kept (by the
 * launcher, or an older bot-bottle): one snapshot, with the id `legacy`, the
 * artifact `committed-image` names; none when nothing was committed.
 *
 * @param committed What `committed-image` names, and when it was recorded.
 * @param backend The bottle's backend, for the record.
 * @returns The history.
 */
export function legacyHistory(
  committed: { reference: string; recordedAt: Date | null } | undefined,
  backend: string,
): History {
  const history = emptyHistory();
  if (committed !== undefined) {
    history.snapshots.push({
      id: "legacy",
      createdAt: (committed.recordedAt ?? new Date()).toISOString(),
      backend,
      artifact: committed.reference,
      sizeBytes: null,
      parent: null,
      toolVersion: "unknown",
      message: null,
    });
  }
  return history;
}

/**
 * The size a `snapshots.json` of `size` bytes grows to with `record`: the
 * record, its separator, and room for the artifact and size still to come.
 *
 * @param size The file's size now (0 when there is none).
 * @param record The new snapshot's record, its artifact and size not yet known.
 * @returns The size in bytes.
 */
export function grownHistoryBytes(size: number, record: SnapshotRecord): number {
  return size + new TextEncoder().encode(JSON.stringify(record)).byteLength + 2 + 1024;
}

/**
 * The refusal of a history that would grow to `bytes`, past
 * {@linkcode MAX_HISTORY_FILE_BYTES}, which bot-bottle could then no longer read.
 *
 * @param slug The bottle's slug.
 * @param bytes The size it would grow to.
 * @returns The error, saying to prune.
 */
export function historyTooLarge(slug: string, bytes: number): BadInputError {
  return new BadInputError(
    `bottle "${slug}" has too many snapshots: its history would grow to ${bytes} ` +
      `bytes, past the ${MAX_HISTORY_FILE_BYTES} bot-bottle reads; nothing was changed. ` +
      `Remove old snapshots first: bot-bottle prune ${slug} --keep 1000`,
  );
}
