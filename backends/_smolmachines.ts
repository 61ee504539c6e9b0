// What the smolvm backend and its freezer share: where a bottle's artifacts
// live in its state directory and how they are linked into place, the oldest
// smolvm they work with, and the list of machines.

import * as v from "valibot";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/state/agent.ts";
import type { Backend } from "../lib/backend.ts";

const Machine = v.looseObject({
  name: v.string(),
  state: v.string(),
  // Started --branchable (smolvm's older name, and its JSON key: forkable).
  forkable: v.optional(v.boolean()),
  // Counts of host mounts and published ports, which a checkpoint cannot carry.
  mounts: v.optional(v.number()),
  ports: v.optional(v.number()),
});

/** The stub smolvm writes next to the artifact, in the state directory (the launcher's name). */
export const STUB = "committed-smolmachine";
/** Where each snapshot's stub and artifact are kept, in the state directory. */
export const SNAPSHOTS = "snapshots";
/** A disk snapshot's artifact ends so (`smolvm pack create`). */
export const PACK_SUFFIX = ".smolmachine";
/** A full snapshot (memory and disk) ends so (`smolvm machine checkpoint`): a file or a directory. */
export const CHECKPOINT_SUFFIX = ".smolcheckpoint";

/**
 * The oldest smolvm with memory snapshots: `machine checkpoint`, restored by
 * `machine create --from`, and `machine start --branchable` (about 1.10).
 */
export const CHECKPOINT_FLOOR = "1.10.0";

/** Whether `artifact` is a full snapshot (a checkpoint), not a pack. */
export function isCheckpoint(artifact: string): boolean {
  return artifact.endsWith(CHECKPOINT_SUFFIX);
}

/** The bytes of a file, or of every file under a directory (links not followed); 0 when absent. */
export async function sizeOf(path: string): Promise<number> {
  const info = await Deno.lstat(path).catch(() => undefined);
  if (!info?.isDirectory) return info?.isFile ? info.size : 0;
  let total = 0;
  for await (const entry of Deno.readDir(path)) total += await sizeOf(`${path}/${entry.name}`);
  return total;
}

/**
 * The oldest smolvm bot-bottle starts, resumes and snapshots with: image
 * machines run the image's own command only from 1.9.0, and packs made
 * before 1.8.1 lose file ownership.
 */
export const FLOOR = "1.9.0";
/** What {@linkcode FLOOR} brings, for the upgrade message. */
export const FLOOR_REASON =
  "image machines run the image's command from 1.9.0, and packs keep file " +
  "ownership from 1.8.1";

/** Makes `target` a hard link to `source`, replacing it atomically; a copy where links fail. */
export async function replaceWithLink(source: string, target: string): Promise<void> {
  const temp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.link(source, temp).catch(() => Deno.copyFile(source, temp));
    await Deno.rename(temp, target);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/** Makes `target` a link to `source`, or removes it when there is no `source` file. */
export async function pointAt(source: string | undefined, target: string): Promise<void> {
  if (source && (await Deno.lstat(source).then((info) => info.isFile, () => false))) {
    await replaceWithLink(source, target);
  } else {
    await Deno.remove(target).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/** Every machine, from `smolvm machine ls --json`. */
export async function listMachines(backend: Backend, agent?: Agent) {
  const result = await backend.run("list", {}, agent);
  return parseOutput(v.array(Machine), result, backend.commands, "list");
}
