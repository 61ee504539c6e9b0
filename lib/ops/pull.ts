/**
 * Sharing a bottle through an OCI registry, second half: `bot-bottle pull`
 * reads a pushed bottle's state, checks it, pulls its snapshot, checks its
 * digest, and writes the bottle's state directory, as `import` does.
 *
 * @module
 */

import { parseSlug } from "../state/slug.ts";
import { readCompanion } from "../archive/companion.ts";
import { companionTag, parseOciReference, tagged } from "../archive/oci_reference.ts";
import { BadInputError, RegistryAccessError } from "../errors.ts";
import { stateRoot } from "../state/bottle_state.ts";
import { loadRegistry, type Registry } from "../registry/registry.ts";
import { withTempDir } from "../temp_dir.ts";
import { adoptForeignBottle, type AdoptOptions, type AdoptResult } from "./_adopt.ts";

/** Options for {@linkcode pullBottle}. */
export interface PullOptions extends AdoptOptions {
  /** The backend to pull with (default: docker): the one the bottle was pushed from. */
  backend?: string | undefined;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode pullBottle} did. */
export interface PullResult extends AdoptResult {
  /** The reference pulled, with its tag. */
  ref: string;
  /** The snapshot's digest, checked. */
  digest: string;
}

/**
 * Pulls a bottle that `bot-bottle push` pushed, trusting nothing it says:
 * its state (`<tag>.bottle`) is read first and every member checked against
 * its manifest; then the snapshot is pulled and its digest checked against
 * the manifest's (and against `ref@digest`, when given). The refusals of
 * `import` apply (an existing slug without `name` or `force`, a smolvm
 * snapshot of another CPU architecture, host access without consent), and a
 * reference that is not a bottle is refused. Nothing is left on failure: no
 * state directory, no image or tag, no temporary file.
 *
 * @param target The reference, with its tag, e.g. `registry.example.com/team/dev:v1`.
 * @param options Backend, slug, force, host access; registry, state root, locking, logging.
 * @returns The bottle and how to resume it.
 * @throws {BadInputError} When the reference is not a bottle, a digest does
 * not match, or an `import` refusal applies.
 * @throws {RegistryAccessError} When the registry cannot be reached, wants a
 * login, is not trusted, or has no such tag.
 *
 * @example
 * ```ts
 * import { pullBottle } from "@bot-bottle/bot-bottle";
 * const { resumeCommand } = await pullBottle("registry.example.com/team/dev:v1", { name: "dev2" });
 * ```
 */
export async function pullBottle(target: string, options: PullOptions = {}): Promise<PullResult> {
  // A bad --name is refused before the registry is asked anything.
  if (options.name !== undefined) parseSlug(options.name);
  const parsed = parseOciReference(target, "pull");
  if (parsed.tag === undefined) {
    throw new BadInputError(
      `pull takes a reference with its tag, as "bot-bottle push" printed it (e.g. ` +
        `${parsed.name}:v1), not ${target}`,
    );
  }
  const ref = tagged(parsed, parsed.tag);
  const companionRef = tagged(parsed, companionTag(parsed.tag));
  const registry = options.registry ?? await loadRegistry();
  const root = options.root ?? stateRoot();
  const backend = registry.getBackend(options.backend ?? "docker", options);
  return await withTempDir(async (dir) => {
    let bytes: Uint8Array;
    try {
      bytes = await backend.pullCompanion(companionRef, dir);
    } catch (error) {
      if (!(error instanceof RegistryAccessError) || error.kind !== "unknown") throw error;
      if (await backend.remoteExists(ref, dir)) {
        throw new BadInputError(
          `${ref} is not a bottle: the registry holds it, but no bottle state beside it ` +
            `(${companionRef}), so it is a plain image or a bottle whose state was deleted; ` +
            `pull a reference that "bot-bottle push" printed; nothing was written`,
        );
      }
      throw new RegistryAccessError(
        `unknown tag: the registry ${parsed.host} has no ${ref}; check the reference ` +
          `"bot-bottle push" printed, or push the bottle again; nothing was written`,
        "unknown",
        parsed.host,
        error,
        { cause: error },
      );
    }
    const companion = readCompanion(bytes, ref);
    const { manifest } = companion;
    if (registry.resolve(manifest.backend).name !== backend.name) {
      throw new BadInputError(
        `${ref} is a bottle of the "${manifest.backend}" backend; pull it with --backend ` +
          `${manifest.backend}; nothing was written`,
      );
    }
    if (parsed.digest !== undefined && parsed.digest !== manifest.artifact.digest) {
      throw new BadInputError(
        `digest mismatch: you asked for ${ref}@${parsed.digest}, but the bottle at ${ref} ` +
          `is ${manifest.artifact.digest}: the tag was pushed again since; pull ${ref} for ` +
          `the new one; nothing was written`,
      );
    }
    const digest = manifest.artifact.digest;
    const result = await adoptForeignBottle(
      {
        source: ref,
        again: "pull it again with --allow-host-access (and --force, to add it to this bottle)",
        operation: "pull",
        verb: "pulled",
        slug: manifest.slug,
        snapshot: manifest.snapshot,
        toolVersion: manifest.toolVersion,
        sizeBytes: null,
        metadata: companion.metadata,
        runConfig: companion.runConfig,
        record: {
          mode: manifest.snapshot.mode ?? "disk",
          pushes: [{ ref, digest, pushedAt: manifest.createdAt }],
        },
      },
      backend,
      root,
      options,
      (slug, state, context) =>
        backend.pullSnapshot(slug, ref, state.dir, {
          ...context,
          source: ref,
          snapshotId: manifest.snapshot.id,
          digest,
        }),
    );
    return { ...result, ref, digest };
  }, "bot-bottle-pull-");
}
