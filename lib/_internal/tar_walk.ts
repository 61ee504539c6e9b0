/**
 * A synchronous walk over a tar stream's headers, fed chunk by chunk. It
 * keeps no reference to a chunk once {@linkcode TarWalk.write} returns (only
 * copies of the entries it is asked to collect), so the caller may free or
 * reuse the chunk's buffer at once: the archive reader does, to keep memory
 * flat. Reads ustar, pax (`x`, `g`) and GNU long-name (`L`, `K`) headers.
 *
 * @module
 */

/** An entry's header, as the walk reads it. */
export interface TarHeader {
  /** The path, with pax or GNU long names applied. */
  name: string;
  /** `file`, `link`, `symlink`, `directory`, `character-device`, `block-device`, `fifo`, … */
  type: string;
  /** The size of its data in bytes. */
  size: number;
}

/** What to do with an entry's data. */
export interface TarVisitor {
  /** Called for each entry: return `true` to get its data in {@linkcode TarVisitor.data}. */
  entry(header: TarHeader): boolean;
  /** An entry's whole data, for an entry {@linkcode TarVisitor.entry} asked for. */
  data(header: TarHeader, bytes: Uint8Array): void;
}

const BLOCK = 512;
/** The largest pax or long-name header read (a path cannot need more). */
const MAX_META_BYTES = 1024 * 1024;

const TYPES: Record<string, string> = {
  "0": "file",
  "\0": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
  "7": "contiguous-file",
  x: "pax-header",
  g: "pax-global-header",
  L: "gnu-long-path",
  K: "gnu-long-link-path",
};

/** The walk; throws {@linkcode TarWalkError} from `write` on what is not a tar. */
export class TarWalk {
  readonly #visitor: TarVisitor;
  readonly #header = new Uint8Array(BLOCK);
  #headerFill = 0;
  /** The entry whose data is being read. */
  #current: TarHeader | undefined;
  #meta: "pax" | "long" | undefined;
  #remaining = 0;
  #padding = 0;
  #collect: Uint8Array | undefined;
  #collected = 0;
  #pax: Record<string, string> = {};
  #longName: string | undefined;
  #ended = false;

  constructor(visitor: TarVisitor) {
    this.#visitor = visitor;
  }

  /** Whether the end-of-archive blocks were read. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Takes the next chunk; every entry it completes is handed to the visitor
   * before this returns.
   *
   * @param chunk The next bytes of the tar.
   * @throws {TarWalkError} When a header is not a tar header.
   */
  write(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.byteLength && !this.#ended) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.byteLength - offset);
        if (this.#collect) {
          this.#collect.set(chunk.subarray(offset, offset + n), this.#collected);
          this.#collected += n;
        }
        this.#remaining -= n;
        offset += n;
        if (this.#remaining === 0) this.#finishEntry();
      } else if (this.#padding > 0) {
        const n = Math.min(this.#padding, chunk.byteLength - offset);
        this.#padding -= n;
        offset += n;
      } else {
        const n = Math.min(BLOCK - this.#headerFill, chunk.byteLength - offset);
        this.#header.set(chunk.subarray(offset, offset + n), this.#headerFill);
        this.#headerFill += n;
        offset += n;
        if (this.#headerFill === BLOCK) {
          this.#headerFill = 0;
          this.#readHeader();
        }
      }
    }
  }

  #readHeader(): void {
    const block = this.#header;
    if (block.every((byte) => byte === 0)) {
      this.#ended = true;
      return;
    }
    if (!checksumOk(block)) throw new TarWalkError("a tar header has a wrong checksum");
    const flag = String.fromCharCode(block[156] ?? 0);
    const type = TYPES[flag] ?? "unknown";
    const size = this.#pax.size !== undefined ? Number(this.#pax.size) : octal(block, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw new TarWalkError("a tar header's size");
    this.#remaining = size;
    this.#padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === "pax-header" || type === "gnu-long-path") {
      if (size > MAX_META_BYTES) throw new TarWalkError(`a ${type} of ${size} bytes`);
      this.#meta = type === "pax-header" ? "pax" : "long";
      this.#current = { name: "", type, size };
      this.#startCollecting(size);
      return;
    }
    const prefix = block[257] === 0x75 /* u(star) */ ? text(block, 345, 155) : "";
    const plain = prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100);
    const name = this.#pax.path ?? this.#longName ?? plain;
    this.#pax = {};
    this.#longName = undefined;
    this.#meta = undefined;
    this.#current = { name, type, size };
    const wanted = type !== "pax-global-header" && type !== "gnu-long-link-path" &&
      this.#visitor.entry(this.#current);
    if (wanted) this.#startCollecting(size);
    else this.#collect = undefined;
    if (size === 0) this.#finishEntry();
  }

  #startCollecting(size: number): void {
    this.#collect = new Uint8Array(size);
    this.#collected = 0;
  }

  #finishEntry(): void {
    const header = this.#current;
    const bytes = this.#collect;
    this.#collect = undefined;
    this.#current = undefined;
    if (!header || !bytes) return;
    if (this.#meta === "pax") {
      this.#pax = parsePax(bytes);
      this.#meta = undefined;
    } else if (this.#meta === "long") {
      this.#longName = new TextDecoder().decode(bytes).replace(/\0.*$/s, "");
      this.#meta = undefined;
    } else {
      this.#visitor.data(header, bytes);
    }
  }
}

/** What is not a tar. */
export class TarWalkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

function text(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}

/** A numeric field: octal text, or base-256 when its first byte has the high bit. */
function octal(block: Uint8Array, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const digits = text(block, start, length).trim();
  return digits === "" ? 0 : /^[0-7]+$/.test(digits) ? parseInt(digits, 8) : NaN;
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i] ?? 0;
  return octal(block, 148, 8) === sum;
}

/** `"<len> key=value\n"` records, `<len>` counting bytes. */
function parsePax(bytes: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  const decoder = new TextDecoder();
  let at = 0;
  while (at < bytes.byteLength) {
    const space = bytes.indexOf(0x20, at);
    const length = Number(decoder.decode(bytes.subarray(at, space)));
    if (space === -1 || !Number.isSafeInteger(length) || length <= space - at) break;
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const equals = record.indexOf("=");
    if (equals !== -1) records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}
