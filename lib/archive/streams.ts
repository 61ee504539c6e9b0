/**
 * The stream plumbing both directions of a `.bottle` share: compression,
 * backpressure, tar feeding and hashing.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { PassThrough, type Readable, type Transform } from "node:stream";
import {
  constants as zlibConstants,
  createGunzip,
  createGzip,
  createZstdCompress,
  createZstdDecompress,
} from "node:zlib";
import { type Extract } from "tar-stream";
import type { Compression } from "./archive_compression.ts";

// Chunk sizes: a chunk of the artifact when writing, of the archive when
// reading, and of a (de)compressor's output. Memory is bounded by the streams'
// backpressure, not by these; they only set how many calls a gigabyte costs.
export const CHUNK_BYTES = 256 * 1024;

const READ_CHUNK_BYTES = 256 * 1024;

const ZLIB_CHUNK_BYTES = 256 * 1024;

export function decompressorFor(compression: Compression): Transform {
  switch (compression) {
    case "zstd":
      return createZstdDecompress({ chunkSize: ZLIB_CHUNK_BYTES });
    case "gzip":
      return createGunzip({ chunkSize: ZLIB_CHUNK_BYTES });
    case "none":
      return new PassThrough({ highWaterMark: ZLIB_CHUNK_BYTES });
  }
}

export function compressorFor(compression: Compression): Transform {
  switch (compression) {
    case "zstd":
      // Level 3 (zstd's default): several times gzip's speed at a better ratio. The
      // frame's checksum lets the reader tell damage from data, as gzip's CRC does.
      return createZstdCompress({
        chunkSize: ZLIB_CHUNK_BYTES,
        params: {
          [zlibConstants.ZSTD_c_compressionLevel]: 3,
          [zlibConstants.ZSTD_c_checksumFlag]: 1,
        },
      });
    case "gzip":
      return createGzip({ chunkSize: ZLIB_CHUNK_BYTES });
    case "none":
      return new PassThrough({ highWaterMark: ZLIB_CHUNK_BYTES });
  }
}

/**
 * Writes `file` into `sink`, waiting whenever the sink is full, then ends it
 * and closes the file. Never rejects: a failure destroys `sink`, whose reader
 * then sees it.
 */
export async function pump(file: Deno.FsFile, sink: Transform): Promise<void> {
  const passThrough = sink instanceof PassThrough;
  try {
    for (;;) {
      // A new buffer each time: the sink may hold on to it until it has consumed it.
      const buffer = new Uint8Array(READ_CHUNK_BYTES);
      const n = await file.read(buffer);
      if (n === null) break;
      if (sink.destroyed) return;
      if (passThrough) {
        // It hands the buffer itself on: the reader of the artifact frees it.
        if (!sink.write(buffer.subarray(0, n))) await nodeDrained(sink);
      } else {
        // A decompressor calls back once it has consumed the buffer, and only as fast as
        // its output is read.
        await consumed(sink, buffer.subarray(0, n));
        release(buffer);
      }
    }
    sink.end();
  } catch (error) {
    if (!sink.destroyed) sink.destroy(error as Error);
  } finally {
    file.close();
  }
}

/** The last bytes of a tar stream, to tell whether it ended with its end-of-archive blocks. */
export class TarTail {
  /** Whether the stream ended (as opposed to failed or still going). */
  ended = false;
  #total = 0;
  #last = new Uint8Array(1024);

  see(chunk: Uint8Array): void {
    const last = this.#last;
    if (chunk.byteLength >= last.byteLength) {
      last.set(chunk.subarray(chunk.byteLength - last.byteLength));
    } else {
      last.copyWithin(0, chunk.byteLength);
      last.set(chunk, last.byteLength - chunk.byteLength);
    }
    this.#total += chunk.byteLength;
  }

  /** Whether the stream ended with the two zero blocks that close a tar. */
  complete(): boolean {
    return this.ended && this.#total >= this.#last.byteLength &&
      this.#total % 512 === 0 && this.#last.every((byte) => byte === 0);
  }
}

/** Writes `source` into the tar parser with backpressure; ends or destroys it. */
export async function feed(
  source: Readable,
  sink: Extract,
  tail: TarTail,
  corrupt: (error: unknown) => Error,
): Promise<void> {
  try {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      if (sink.destroying) break; // the reader stopped: destroys the source, ending the pump
      tail.see(chunk);
      if (!sink.write(chunk)) await drained(sink);
    }
    if (!sink.destroying) {
      tail.ended = true;
      sink.end(undefined);
    }
  } catch (error) {
    if (!sink.destroying) sink.destroy(corrupt(error));
  } finally {
    if (!source.destroyed) source.destroy();
  }
}

/**
 * Hashes a file with SHA-256 through one reused buffer: unlike a
 * `file.readable` loop, this leaves no garbage behind, so a large artifact
 * does not raise the process's memory.
 */
export async function hashFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buffer = new Uint8Array(CHUNK_BYTES);
  for (;;) {
    signal?.throwIfAborted();
    const n = await file.read(buffer);
    if (n === null) return hash.digest("hex");
    hash.update(buffer.subarray(0, n));
  }
}

/**
 * Frees a spent chunk's memory now instead of at the next garbage collection,
 * which V8 puts off until some 64 MiB of such buffers have piled up. Only for
 * a chunk that is the whole of its buffer and that nothing else holds.
 */
export function release(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (
    buffer instanceof ArrayBuffer && chunk.byteOffset === 0 &&
    chunk.byteLength === buffer.byteLength && !buffer.detached
  ) buffer.transfer(0);
}

/**
 * Frees the buffer under a stream's chunk once its last slice is spent: a
 * (de)compressor fills one buffer with slices, in order, and starts a new one
 * when it is full, and the tar parser hands on slices of its input in order,
 * so a slice that ends its buffer is the last of it.
 */
export function releaseFilled(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (
    buffer instanceof ArrayBuffer && !buffer.detached &&
    chunk.byteOffset + chunk.byteLength === buffer.byteLength
  ) buffer.transfer(0);
}

interface DrainableStream {
  destroying: boolean;
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** Writes `chunk` into `stream` and waits until it has consumed it; rejects when it closes. */
export function consumed(stream: Transform, chunk: Uint8Array): Promise<void> {
  if (stream.destroyed) return Promise.reject(new Error("the stream was closed"));
  return new Promise((resolve, reject) => {
    const settle = (error?: Error | null) => {
      stream.off("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onClose = () => settle(new Error("the stream was closed"));
    stream.on("close", onClose);
    stream.write(chunk, settle);
  });
}

/** Waits for a full Node writable to drain; rejects when it closes or fails instead. */
export function nodeDrained(stream: Transform): Promise<void> {
  return untilDrained(stream, stream.destroyed, "the stream was closed");
}

/** Waits for a backpressured streamx writable to drain; rejects when it closes instead. */
export function drained(stream: DrainableStream): Promise<void> {
  return untilDrained(stream, stream.destroying, "the tar stream was closed");
}

/** Resolves on the stream's next `drain`, rejects with `closedMessage` on `close` (or at once). */
function untilDrained(
  stream: Pick<DrainableStream, "on" | "off">,
  closed: boolean,
  closedMessage: string,
): Promise<void> {
  if (closed) return Promise.reject(new Error(closedMessage));
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error(closedMessage));
    stream.on("drain", onDrain);
    stream.on("close", onClose);
  });
}

export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
}
