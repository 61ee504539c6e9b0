// What the smolvm backend and its freezer share: where a bottle's artifacts
// live in its state directory and how they are linked into place, the oldest
// smolvm they work with, the list of machines, which platform a snapshot runs
// on, and removing a snapshot's files.

import * as v from "valibot";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/state/agent.ts";
import type { Backend, PlatformContext } from "../lib/backend.ts";
import { BadInputError } from "../lib/errors.ts";

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

/**
 * Refuses a snapshot this machine cannot run: a disk snapshot (a pack) runs
 * only on the CPU architecture it was packed on, a full one (a checkpoint)
 * only on the same host OS and CPU; and a file whose manifest's mode does not
 * match its artifact lies.
 *
 * @param context The file, the snapshot's mode, its artifact's name and the exporting machine.
 * @throws {BadInputError} When it cannot run here; nothing was changed.
 */
export function checkPlatform(
  { source, mode, artifactName, platform }: PlatformContext,
): void {
  // A checkpoint is a full snapshot and a pack a disk one: a file that says otherwise lies.
  if (isCheckpoint(artifactName) !== (mode === "full")) {
    throw new BadInputError(
      `${source} is not a usable bot-bottle archive: its manifest says a ${mode} snapshot, ` +
        `but its artifact is ${artifactName}; export the bottle again with "bot-bottle export"`,
    );
  }
  if (platform === undefined) return;
  const here = { os: Deno.build.os, arch: Deno.build.arch };
  if (mode === "full" && (platform.os !== here.os || platform.arch !== here.arch)) {
    throw new BadInputError(
      `${source} holds a full smolvm snapshot (memory and disk) made on ` +
        `${platform.os}/${platform.arch}, and this machine is ${here.os}/${here.arch}: a ` +
        `checkpoint resumes only on the same OS and CPU; nothing was imported: export a disk ` +
        `snapshot of the bottle there (commit --mode disk) and import that`,
    );
  }
  if (platform.arch !== here.arch) {
    throw new BadInputError(
      `${source} holds a smolvm snapshot made on ${platform.arch}, and this machine is ` +
        `${here.arch}: a smolvm machine runs only on the CPU it was packed for`,
    );
  }
}

/**
 * Removes a `.smolmachine` file and its stub, or a checkpoint (a file or a
 * directory), when inside the bottle's state directory.
 *
 * @param agent The bottle.
 * @param artifact The snapshot.
 * @throws {BadInputError} When it is outside the state directory; it is left alone.
 */
export async function removeSnapshotFiles(agent: Agent, artifact: string): Promise<void> {
  const inside = artifact.startsWith(agent.state.dir + "/") &&
    (artifact.endsWith(PACK_SUFFIX) || isCheckpoint(artifact)) &&
    !artifact.slice(agent.state.dir.length).includes("/..");
  if (!inside) {
    throw new BadInputError(
      `the snapshot ${artifact} is outside the state directory of bottle "${agent.slug}"; ` +
        `it was left alone: remove it by hand`,
    );
  }
  // A checkpoint may be a directory: removed whole (links inside are removed, not followed).
  const files = isCheckpoint(artifact)
    ? [artifact]
    : [artifact, artifact.slice(0, -PACK_SUFFIX.length)];
  for (const file of files) {
    await Deno.remove(file, { recursive: isCheckpoint(file) }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}
