/**
 * The check after `start` and `resume` that the new bottle stayed up: a
 * bottle whose command exits at once is reported with its exit status and
 * the last lines of its output, not as a success.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import { BackendError } from "../errors.ts";

/**
 * How long a new bottle is given to fail before its state is read, in
 * milliseconds. `docker run --detach` returns once the process has started,
 * so a command that exits at once is often still "running" at that moment;
 * after this settle it has exited. A process that lives longer than this
 * and then dies is not caught (it is the agent's own failure, for `ls`).
 */
export const SETTLE_MS = 300;

/**
 * Waits {@linkcode SETTLE_MS}, then checks that the bottle `slug` is running.
 *
 * @param backend Its backend.
 * @param slug The bottle's slug.
 * @param from What it was made from, for the message (an image or a snapshot).
 * @throws {BackendError} When it is not running: its exit status and the last
 * lines of its output, where the backend tells them.
 */
export async function checkStaysUp(backend: Backend, slug: string, from: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const status = await backend.bottleStatus(slug);
  if (status === "running") return;
  const reason = status === "absent" ? {} : await backend.stopReason(slug);
  const how = reason.exitCode === undefined
    ? `is ${status}, not running`
    : `exited at once with status ${reason.exitCode}`;
  const output = reason.output === undefined
    ? `; ${backend.name} does not tell its output`
    : reason.output === ""
    ? "; it printed nothing"
    : `; the last lines of its output:\n${reason.output}`;
  throw new BackendError(
    `bottle "${slug}" was created from ${from} but ${how}; check that its command keeps ` +
      `running (e.g. -- sleep infinity)${output}`,
    {
      backend: backend.name,
      command: "state",
      argv: [],
      ...reason.exitCode === undefined ? {} : { exitCode: reason.exitCode },
      stdout: reason.output ?? "",
      stderr: "",
    },
  );
}
