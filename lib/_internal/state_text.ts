// The text of the state's files: decoding and parsing what is read (UTF-8,
// JSON no deeper than MAX_JSON_DEPTH), and formatting what is written
// (snapshots.json one snapshot a line, indented JSON, committed-image's line).

import { BadInputError } from "../errors.ts";
import {
  MAX_HISTORY_FILE_BYTES,
  MAX_JSON_DEPTH,
  MAX_STATE_FILE_BYTES,
} from "../state/atomic_write.ts";
import { type History, HISTORY_FILE, type SnapshotRecord } from "../state/snapshot_history.ts";

/** Parses JSON text, or gives `undefined` for text that is not JSON. */
export function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Decodes a state file's bytes as UTF-8, refusing anything else. */
export function decodeText(data: Uint8Array, file: string): string {
  // The lenient decoder is several times quicker on a long history; it gives U+FFFD for bytes
  // that are not UTF-8, and only text that holds one is decoded again, strictly, to tell.
  const text = new TextDecoder().decode(data);
  if (!text.includes("\uFFFD")) return text;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch (error) {
    throw new BadInputError(`${file} is not UTF-8 text; fix or restore the file`, {
      cause: error,
    });
  }
}

/**
 * Parses a state JSON file: UTF-8 text, valid JSON, nested at most
 * {@linkcode MAX_JSON_DEPTH} deep. The depth is measured on the text first,
 * so neither parsing nor a later `JSON.stringify` recurses deeply.
 */
export function parseStateJson(data: Uint8Array, file: string): unknown {
  const text = decodeText(data, file);
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new BadInputError(
      `${file} nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep; ` +
        `fix or restore the file`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadInputError(
      `${file} is not valid JSON (${(error as Error).message}); fix or restore the file`,
      { cause: error },
    );
  }
}

/** The deepest nesting of `[` and `{` in JSON text, outside strings; stops counting past the limit. */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x22) {
      // A string: jump to its closing quote, one not escaped by a backslash. (Strings are
      // most of a history's text, so this is what keeps a long one quick.)
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end === -1) return deepest; // unterminated: JSON.parse refuses it
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
        i = end;
        if (backslashes % 2 === 0) break;
      }
    } else if (char === 0x5b || char === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > MAX_JSON_DEPTH) return deepest;
    } else if (char === 0x5d || char === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/** The largest content of a state file bot-bottle reads, and so writes. */
export function maxBytesOf(name: string): number {
  return name === HISTORY_FILE ? MAX_HISTORY_FILE_BYTES : MAX_STATE_FILE_BYTES;
}

/**
 * `snapshots.json`'s content: one snapshot a line, compact (~250 bytes a
 * snapshot, not the ~350 of indented JSON), still easy to read and to diff.
 * Each record's line holds its separator in front (`,{…}`), so a commit adds
 * its snapshot by rewriting only the closing `]}` (see
 * `lib/state/history_tail.ts`), and whatever an interrupted addition
 * leaves, every line before it is still a whole record:
 *
 * ```text
 * {"version":1,"resumedFrom":null,"snapshots":[
 * {"id":"20261124T141500Z",…}
 * ,{"id":"20261124T142000Z",…}
 * ]}
 * ```
 */
export function historyText(history: History): string {
  return historyHead(history.resumedFrom) +
    history.snapshots.map((record, index) => recordLine(record, index === 0)).join("") +
    HISTORY_CLOSE;
}

/** The first line of `snapshots.json`: everything before its records. */
export function historyHead(resumedFrom: string | null): string {
  return `{"version":1,"resumedFrom":${JSON.stringify(resumedFrom)},"snapshots":[\n`;
}

/** The line of one record in `snapshots.json`: `,` first unless it is the first record. */
export function recordLine(record: SnapshotRecord, first: boolean): string {
  return `${first ? "" : ","}${JSON.stringify(record)}\n`;
}

/** The last line of `snapshots.json`, after its records. */
export const HISTORY_CLOSE = "]}\n";

/** The content of one of the state's JSON files: indented, ending in a newline. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/** `committed-image`'s content: the reference and a newline. */
export function referenceLine(reference: string): string {
  if (reference === "" || /[\r\n]/.test(reference)) {
    throw new TypeError(
      `artifact reference must be one non-empty line, got ${JSON.stringify(reference)}`,
    );
  }
  return reference + "\n";
}
