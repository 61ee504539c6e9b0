/**
 * `snapshots.json` as a commit reads it and adds to it: its first line (the
 * snapshot the bottle was resumed from), its last record (the newest), the
 * ids of one second, and where the next record goes; nothing else of a long
 * history is parsed, and nothing before its closing `]}` is rewritten. And
 * what a reader makes of a file whose addition was cut short: every whole
 * record, and a note saying so.
 *
 * This works on the layout bot-bottle writes (`historyText`: the first line,
 * one record a line with its separator in front, `]}`); any other layout (an
 * older version's, a hand-edited file) is read whole and rewritten whole once.
 * See `docs/state.md`.
 *
 * @module
 */

import {
  HISTORY_CLOSE,
  historyHead,
  parseOrUndefined,
  recordLine,
} from "../_internal/state_text.ts";
import type { FileRead, FileSplice } from "./atomic_write.ts";
import { type History, quickRecord, type SnapshotRecord } from "./snapshot_history.ts";

/** What a commit needs of a history in bot-bottle's layout, read without parsing it whole. */
export interface HistoryTail {
  /** The snapshot the bottle was resumed from (the first line's `resumedFrom`). */
  resumedFrom: string | null;
  /** The newest snapshot: the last record. */
  newest: SnapshotRecord | undefined;
  /** The byte offset of the closing `]}\n`, where the next record's line goes. */
  at: number;
}

const HEAD = /^\{"version":1,"resumedFrom":(null|"(?:[^"\\]|\\.)*"),"snapshots":\[\n/;

/** The first line's `resumedFrom`, and its length, when it is exactly what bot-bottle writes. */
function readHead(text: string): { resumedFrom: string | null; length: number } | undefined {
  const match = text.match(HEAD);
  if (!match?.[1]) return;
  const resumedFrom = parseOrUndefined(match[1]);
  if (resumedFrom !== null && typeof resumedFrom !== "string") return;
  // Exactly as written (no other escapes): what historyHead gives back.
  if (historyHead(resumedFrom) !== match[0]) return;
  return { resumedFrom, length: match[0].length };
}

/** The record of one record line (`{…}` when it is the first, else `,{…}`). */
function readRecordLine(line: string, first: boolean): SnapshotRecord | undefined {
  if (first === line.startsWith(",")) return;
  return quickRecord(parseOrUndefined(first ? line : line.slice(1)));
}

/**
 * Reads what a commit needs of `snapshots.json`: its first line, its last
 * record, and where the closing `]}` starts.
 *
 * @param text The file's text.
 * @param size Its size in bytes.
 * @returns Them, or `undefined` when the file is not in bot-bottle's layout
 * (it is then read and rewritten whole).
 */
export function readHistoryTail(text: string, size: number): HistoryTail | undefined {
  const head = readHead(text);
  // (The first line ends in a newline too, so an empty history ends so as well.)
  if (!head || !text.endsWith(`\n${HISTORY_CLOSE}`)) return;
  const at = size - HISTORY_CLOSE.length;
  const end = text.length - HISTORY_CLOSE.length;
  if (end === head.length) return { resumedFrom: head.resumedFrom, newest: undefined, at };
  const start = text.lastIndexOf("\n", end - 2) + 1;
  const line = text.slice(start, end - 1);
  const newest = readRecordLine(line, start === head.length);
  return newest && { resumedFrom: head.resumedFrom, newest, at };
}

/**
 * The ids among `text`'s records that are `base` or `base-N`: what
 * {@linkcode newSnapshotId} needs to keep a new id unique, found in the raw
 * text (a record's `"id":"…"`; a `"` inside any string is escaped, so no
 * message or artifact can pass for one).
 *
 * @param text The history's text.
 * @param base The id of the commit's second.
 */
export function idsOfSecond(text: string, base: string): string[] {
  const found: string[] = [];
  const literal = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const match of text.matchAll(new RegExp(`"id"\\s*:\\s*"(${literal}(?:-\\d+)?)"`, "g"))) {
    if (match[1] !== undefined) found.push(match[1]);
  }
  return found;
}

/**
 * The history a commit reads ({@linkcode BottleState.readRecentHistory}):
 * added to in place when the file is in bot-bottle's layout, of its own (one
 * link, not readable by others, as bot-bottle leaves it) and without the
 * `legacy` snapshot (which a commit may have to adopt first); else whole.
 *
 * @param read The file as read.
 * @param text Its text.
 * @param parse Parses it whole.
 */
export function recentHistory(read: FileRead, text: string, parse: () => History): RecentHistory {
  const { info, data } = read;
  const tail = info.nlink === 1 && ((info.mode ?? 0) & 0o777) === 0o600 &&
      idsOfSecond(text, "legacy").length === 0
    ? readHistoryTail(text, data.length)
    : undefined;
  if (!tail) return new RecentHistory(parse);
  return new RecentHistory(parse, { text, tail, read: { ...info, size: data.length } });
}

/** The warning that a history was read back from a cut-short addition. */
export function recoveryWarning(file: string, { droppedBytes, history }: RecoveredHistory): string {
  return `warning: ${file} was cut short while a commit added a snapshot to it (a crash, or a ` +
    `full disk); its ${history.snapshots.length} whole snapshots are read` +
    (droppedBytes > 0 ? ` and the ${droppedBytes} bytes after them left out` : "") +
    `, and the next commit, prune or resume writes the file whole again`;
}

/** What {@linkcode recoverHistory} recovered. */
export interface RecoveredHistory {
  /** Every whole record. */
  history: History;
  /** The bytes after them that were left out. */
  droppedBytes: number;
}

/**
 * Recovers a `snapshots.json` in bot-bottle's layout whose last addition was
 * cut short (a crash, a full disk, power lost while a commit added its
 * record): every whole record line before the cut is kept. An addition
 * changes the file only from its closing `]}` on, so what it can leave there
 * is one line at most (the start of the new record's line, over what was left
 * of `]}`, or zeros where the disk lost the rest); anything more is damage
 * that is not an interrupted addition, which this refuses.
 *
 * @param text A file that did not parse as JSON.
 * @returns The whole records, or `undefined` when the file is not in
 * bot-bottle's layout or its damage is not a cut-short addition.
 */
export function recoverHistory(text: string): RecoveredHistory | undefined {
  const head = readHead(text);
  if (!head) return;
  const snapshots: SnapshotRecord[] = [];
  let position = head.length;
  for (;;) {
    const end = text.indexOf("\n", position);
    if (end === -1) break;
    const record = readRecordLine(text.slice(position, end), snapshots.length === 0);
    if (!record) break;
    snapshots.push(record);
    position = end + 1;
  }
  const rest = text.slice(position).replace(/\0+$/, "");
  const newline = rest.indexOf("\n");
  if (newline !== -1 && newline !== rest.length - 1) return;
  if (rest !== "" && !/^[,{\]]/.test(rest)) return;
  return {
    history: { version: 1, resumedFrom: head.resumedFrom, snapshots },
    droppedBytes: new TextEncoder().encode(text.slice(position)).byteLength,
  };
}

/** A record to add to a history in bot-bottle's layout, in place ({@linkcode RecentHistory.adding}). */
export interface HistoryAddition {
  /** Where it goes. */
  tail: HistoryTail;
  /** The file as it was read: the addition applies to it only. */
  read: Pick<Deno.FileInfo, "ino" | "dev" | "size">;
  /** The record. */
  record: SnapshotRecord;
}

/**
 * A history as a commit reads it ({@linkcode BottleState.readRecentHistory}):
 * the newest snapshot, the parent, the ids of a second, and the record's
 * addition. A file in bot-bottle's layout is not parsed whole unless
 * {@linkcode RecentHistory.whole} is asked for (a backend that looks through
 * every earlier artifact), and the record is added in place; any other
 * history is read whole, and written whole.
 */
export class RecentHistory {
  #whole: History | undefined;
  readonly #parse: () => History;
  readonly #text: string | undefined;
  readonly #tail: HistoryTail | undefined;
  readonly #read: HistoryAddition["read"] | undefined;

  /**
   * Wraps a history read by {@linkcode BottleState.readRecentHistory}.
   *
   * @param parse Gives the whole history (called at most once).
   * @param appendable The file's text, what {@linkcode readHistoryTail} read
   * of it and the file's identity, when a record can be added in place.
   */
  constructor(
    parse: () => History,
    appendable?: { text: string; tail: HistoryTail; read: HistoryAddition["read"] },
  ) {
    this.#parse = parse;
    this.#text = appendable?.text;
    this.#tail = appendable?.tail;
    this.#read = appendable?.read;
  }

  /** Whether a record is added in place, without rewriting the file. */
  get appendable(): boolean {
    return this.#tail !== undefined;
  }

  /** The whole history, parsed on first use. */
  whole(): History {
    return this.#whole ??= this.#parse();
  }

  /** The snapshot the bottle was resumed from. */
  get resumedFrom(): string | null {
    return this.#tail ? this.#tail.resumedFrom : this.whole().resumedFrom;
  }

  /** The newest snapshot. */
  get newest(): SnapshotRecord | undefined {
    return this.#tail ? this.#tail.newest : this.whole().snapshots.at(-1);
  }

  /** The ids of the history that are `base` or `base-N` ({@linkcode idsOfSecond}). */
  idsOfSecond(base: string): string[] {
    if (this.#text !== undefined) return idsOfSecond(this.#text, base);
    return this.whole().snapshots.map((record) => record.id)
      .filter((id) => id === base || id.startsWith(`${base}-`));
  }

  /**
   * The whole history with `record` added as its newest, as
   * {@linkcode RecentHistory.adding} recorded it (for retention after the
   * commit, which reads the file no further).
   */
  wholeAfter(record: SnapshotRecord): History {
    const history = this.whole();
    if (history.snapshots.at(-1) !== record) history.snapshots.push(record);
    return history;
  }

  /**
   * What {@linkcode BottleState.recordCommit} records: the record's addition
   * in place, or the whole history with the record last.
   */
  adding(record: SnapshotRecord): History | HistoryAddition {
    if (this.#tail && this.#read) return { tail: this.#tail, read: this.#read, record };
    const history = this.whole();
    history.snapshots.push(record);
    return history;
  }
}

/** The change of `snapshots.json` that adds a record in place: its line and `]}`, over the `]}`. */
export function historySplice({ tail, read, record }: HistoryAddition): FileSplice {
  const encoder = new TextEncoder();
  return {
    at: tail.at,
    content: encoder.encode(recordLine(record, tail.newest === undefined) + HISTORY_CLOSE),
    old: encoder.encode(HISTORY_CLOSE),
    read,
  };
}
