/**
 * Sharing a bottle through an OCI registry, first half: `bot-bottle push`
 * pushes a snapshot and, beside it, the bottle's state.
 *
 * @module
 */

import { join } from "node:path";
import { openBottle } from "./open.ts";
import type { BottleLockOptions } from "../state/bottle_lock.ts";
import type { GetFreezerOptions, Registry } from "../registry/registry.ts";
import { chooseSnapshot, readOutgoing } from "./_outgoing.ts";
import { type CompanionManifest, writeCompanion } from "../archive/companion.ts";
import { companionTag, parseOciReference, tagged } from "../archive/oci_reference.ts";
import { BadInputError } from "../errors.ts";
import { withTempDir } from "../temp_dir.ts";

/** Options for {@linkcode pushBottle}. */
export interface PushOptions extends GetFreezerOptions, BottleLockOptions {
  /** The snapshot: an id or `~N` (default: the newest). */
  at?: string | undefined;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode pushBottle} pushed. */
export interface PushResult {
  /** The bottle. */
  slug: string;
  /** Its backend. */
  backend: string;
  /** The snapshot pushed. */
  snapshotId: string;
  /** The reference pushed, with its tag. */
  ref: string;
  /** The snapshot's digest in the registry. */
  digest: string;
  /** `ref@digest`: what `bot-bottle pull` takes. */
  pinned: string;
  /** The reference of the bottle's state beside it (`<tag>.bottle`). */
  companionRef: string;
  /** The command that pulls it elsewhere. */
  pullCommand: string;
}

/**
 * Pushes a snapshot of the bottle `slug` to a registry: the snapshot as the
 * backend's own artifact at `ref` (a reference without a tag gets the
 * snapshot's id), and the bottle's state (`metadata.json`,
 * `run-config.json`, the snapshot's record and lineage, a manifest with the
 * SHA-256 of each and the snapshot's digest) beside it at `<tag>.bottle`,
 * both through the backend's own commands and login. The push is recorded
 * in the snapshot's history.
 *
 * @param slug The bottle's slug.
 * @param target The registry reference, e.g. `registry.example.com/team/dev:v1`.
 * @param options Which snapshot; registry, state root, locking, logging.
 * @returns What was pushed, and its digest.
 * @throws {BadInputError} When the bottle, the snapshot or its artifact is
 * missing, or the reference is not one.
 * @throws {RegistryAccessError} When the registry cannot be reached, wants a
 * login, or is not trusted.
 *
 * @example
 * ```ts
 * import { pushBottle } from "@bot-bottle/bot-bottle";
 * const { pinned } = await pushBottle("dev-abc12", "registry.example.com/team/dev:v1");
 * ```
 */
export async function pushBottle(
  slug: string,
  target: string,
  options: PushOptions = {},
): Promise<PushResult> {
  const parsed = parseOciReference(target, "push");
  if (parsed.digest !== undefined) {
    throw new BadInputError(
      `push takes a reference without a digest (the registry gives it), not ${target}`,
    );
  }
  await using bottle = await openBottle(slug, "push", options);
  const { agent, backend } = bottle;
  const chosen = await chooseSnapshot(agent, backend, options.at, "push");
  const { history, snapshot } = chosen;
  const tag = parsed.tag ?? snapshot.id;
  const ref = tagged(parsed, tag);
  const companionRef = tagged(parsed, companionTag(tag));
  const { metadataJson, runConfigJson, entries } = await readOutgoing(
    agent,
    backend,
    chosen,
    "push",
  );
  const digest = await withTempDir(async (dir) => {
    const digest = await backend.pushSnapshot(agent, snapshot.artifact, ref, dir);
    const file = join(dir, "companion.tar");
    const manifest: Omit<CompanionManifest, "formatVersion" | "kind" | "files" | "createdAt"> = {
      ...entries,
      artifact: { ref, digest },
    };
    await writeCompanion(file, { manifest, metadataJson, runConfigJson });
    await backend.pushCompanion(file, companionRef, dir);
    return digest;
  }, "bot-bottle-push-");
  // Recorded under the same lock, in the record the history holds (findSnapshot's).
  snapshot.pushes = [
    ...(snapshot.pushes ?? []).filter((push) => push.ref !== ref),
    { ref, digest, pushedAt: new Date().toISOString() },
  ];
  await agent.state.writeHistory(history);
  const pinned = `${ref}@${digest}`;
  options.log?.(`pushed bottle "${slug}" (snapshot ${snapshot.id}) to ${pinned}`);
  options.log?.(`to pull it on another machine: bot-bottle pull ${ref}`);
  return {
    slug,
    backend: backend.name,
    snapshotId: snapshot.id,
    ref,
    digest,
    pinned,
    companionRef,
    pullCommand: `bot-bottle pull ${ref}`,
  };
}
