/**
 * Progress for long transfers on a terminal: bytes, rate and time left,
 * drawn by dax's progress bar. Off the terminal (scripts, `--json`) it
 * draws nothing.
 *
 * @module
 */

import { dax } from "../_internal/dax.ts";
import { formatBytes } from "./table.ts";

/** Reports bytes done; `finish()` removes the bar. */
export interface ByteProgress {
  /** Called with bytes done and the total. */
  update(done: number, total: number): void;
  /** Removes the bar. */
  finish(): void;
}

/**
 * A progress bar labelled `label`, when standard error is a terminal.
 *
 * @param label What is being done, e.g. `"Exporting"`.
 * @param show Whether to draw at all (e.g. not with `--json`).
 */
export async function byteProgress(label: string, show: boolean): Promise<ByteProgress> {
  if (!show || !Deno.stderr.isTerminal()) return { update() {}, finish() {} };
  const $ = await dax();
  const bar = $.progress({ prefix: label }).kind("bytes");
  const started = performance.now();
  let last = 0;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      const left = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
      bar.length(total).position(done).message(
        `${formatBytes(rate)}/s` + (left === undefined ? "" : `, ${left} s left`),
      );
    },
    finish() {
      bar.finish();
    },
  };
}
