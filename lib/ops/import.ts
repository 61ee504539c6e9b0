/**
 * Moving a bottle to another machine, second half: `bot-bottle import`
 * checks an exported file, loads its snapshot into the backend, and writes
 * the bottle's state directory.
 *
 * @module
 */

import { readBottleArchive } from "../archive/bottle_archive.ts";
import { type BottleLockOptions, lockSlug } from "../state/bottle_lock.ts";
import { BottleState, METADATA_FILE, stateRoot } from "../state/bottle_state.ts";
import { BadInputError } from "../errors.ts";
import { grantHostAccess, type HostAccess, reviewForeignBottle } from "../state/foreign_bottle.ts";
import { validateMetadata } from "../state/metadata.ts";
import { type GetFreezerOptions, loadRegistry, type Registry } from "../registry/registry.ts";
import { parseRunConfig } from "../state/run_config.ts";
import { emptyHistory, type History } from "../state/snapshot_history.ts";
import { parseSlug } from "../state/slug.ts";
import { withTempDir } from "../temp_dir.ts";

/** Options for {@linkcode importBottle}. */
export interface ImportOptions extends GetFreezerOptions, BottleLockOptions {
  /** The slug to import as (default: the exported bottle's). */
  name?: string;
  /**
   * Import into a bottle that already has state: its metadata and run
   * configuration are replaced, and the snapshot joins its history as the
   * newest. Nothing of it is deleted.
   */
  force?: boolean;
  /** Called as the artifact is read, with bytes done and the total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
  /**
   * What to do with host access the bottle's run configuration asks for
   * (host paths, the engine socket, host networking): `"allow"` keeps it,
   * `"ask"` asks through `prompter`, `"drop"` (the default) drops it with a
   * warning naming each.
   */
  hostAccess?: "allow" | "ask" | "drop";
}

/** What {@linkcode importBottle} did. */
export interface ImportResult {
  /** The bottle's slug here. */
  slug: string;
  /** Its backend. */
  backend: string;
  /** The imported snapshot's id. */
  snapshotId: string;
  /** The snapshot's artifact here. */
  artifact: string;
  /** The command that resumes it. */
  resumeCommand: string;
  /** The host access its run configuration asked for, and whether it was granted. */
  hostAccess: { requested: HostAccess[]; granted: boolean };
  /** The environment it resumes with (`NAME=value`), which an import keeps. */
  env: string[];
  /** What was reset or dropped whatever the answer (e.g. `copy_cwd`). */
  resets: string[];
}

/**
 * Imports a file written by `bot-bottle export`, trusting nothing it says.
 * The format version, the artifact's SHA-256 and the image names its own
 * manifests carry are checked before anything is touched (an artifact may
 * name only its bottle's snapshot image); a bottle that already has state is
 * refused unless `force` (or `name` gives a new slug); a smolvm snapshot made
 * on another CPU architecture is refused. Host access its run configuration
 * asks for is kept only as `hostAccess` says, and `copy_cwd` is reset
 * (see `foreign_bottle.ts`).
 *
 * @param file The exported file.
 * @param options The slug, force, progress.
 * @returns The imported bottle and how to resume it.
 * @throws {BadInputError} When the file is not a valid export, its artifact
 * names an image other than its snapshot's (or more than one), the slug is
 * taken, or the backend is unknown here; nothing was changed.
 * @throws {BackendError} When the backend could not load the artifact.
 *
 * @example
 * ```ts
 * import { importBottle } from "@bot-bottle/bot-bottle";
 * const { resumeCommand } = await importBottle("dev-abc12-20261124T141500Z.bottle");
 * ```
 */
export async function importBottle(
  file: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const registry = options.registry ?? await loadRegistry();
  const root = options.root ?? stateRoot();
  return await withTempDir(async (dir) => {
    // The manifest comes first: a file for another backend or platform is refused before
    // its artifact is read.
    const archive = await readBottleArchive(
      file,
      dir,
      options.onProgress,
      options.signal,
      (manifest) => {
        parseSlug(options.name ?? manifest.slug);
        registry.getBackend(manifest.backend, options).checkPlatform({
          source: file,
          mode: manifest.snapshot.mode ?? "disk",
          artifactName: manifest.artifact.name,
          ...manifest.platform ? { platform: manifest.platform } : {},
        });
      },
    );
    const { manifest } = archive;
    const slug = parseSlug(options.name ?? manifest.slug);
    const backend = registry.getBackend(manifest.backend, options);
    const metadata = validateMetadata(archive.metadata);
    if (!metadata.ok) {
      throw new BadInputError(`${file} holds an invalid metadata.json (${metadata.problems[0]})`);
    }
    const rawRunConfig = archive.runConfig;
    if (rawRunConfig !== undefined && !parseRunConfig(rawRunConfig)) {
      throw new BadInputError(`${file} holds an invalid run-config.json`);
    }
    // The file is untrusted: nothing of it reaches this host unless the user says yes.
    const review = reviewForeignBottle(metadata.metadata, rawRunConfig);
    // Before anything here changes: what the artifact would name (image backends).
    await backend.checkImport({
      source: file,
      from: manifest.slug,
      snapshotId: manifest.snapshot.id,
      images: archive.artifactImages,
    });
    const state = new BottleState(slug, root);
    await using _lock = await lockSlug(slug, "import", { ...options, root }, { create: true });
    // A directory without metadata (only the lock just taken) is no bottle yet.
    const exists = await Deno.lstat(state.path(METADATA_FILE)).then(() => true, () => false);
    if (exists && !options.force) {
      throw new BadInputError(
        `a bottle "${slug}" already exists here (${state.dir}); import it under another name ` +
          `with --name, or add the snapshot to it with --force`,
      );
    }
    const history: History = exists ? await state.readHistory(backend.name) : emptyHistory();
    let id = manifest.snapshot.id;
    for (let n = 2; history.snapshots.some((record) => record.id === id); n++) {
      id = `${manifest.snapshot.id}-${n}`;
    }
    const undo = new AsyncDisposableStack();
    let loaded: { artifact: string; current: string };
    let granted = false;
    let runConfig = review.safeRunConfig;
    try {
      const earlier = history.snapshots.map((record) => record.artifact);
      const previous = earlier.at(-1);
      loaded = await backend.importArtifact(slug, manifest.slug, archive.artifactPath, state.dir, {
        id,
        ...previous === undefined ? {} : { previous },
        earlier,
        undo,
        source: file,
        snapshotId: manifest.snapshot.id,
        images: archive.artifactImages,
      });
      // Asked once the artifact is known to be acceptable, so a yes is never wasted.
      granted = await grantHostAccess(slug, file, review.hostAccess, {
        mode: options.hostAccess ?? "drop",
        ...options.prompter === undefined ? {} : { prompter: options.prompter },
        ...options.log === undefined ? {} : { log: options.log },
        again: "import it again with --allow-host-access (and --force, to add it to this bottle)",
      });
      if (granted) runConfig = review.grantedRunConfig;
      history.snapshots.push({
        id,
        createdAt: manifest.snapshot.createdAt,
        backend: backend.name,
        artifact: loaded.artifact,
        sizeBytes: manifest.artifact.sizeBytes,
        parent: manifest.snapshot.parent,
        toolVersion: manifest.toolVersion,
        message: manifest.snapshot.message,
        mode: manifest.snapshot.mode ?? "disk",
      });
      history.resumedFrom = null;
      await state.recordCommit({
        metadata: {
          ...review.metadata,
          identity: slug,
          backend: backend.name,
          bottle_names: [backend.bottleName(slug)],
          ...backend.name === "docker" ? { compose_project: backend.bottleName(slug) } : {},
        },
        history,
        ...runConfig === undefined ? {} : { runConfig },
        committedImage: loaded.current,
      });
    } catch (error) {
      await backend.unwind(undo);
      if (!exists) await Deno.remove(state.dir, { recursive: true }).catch(() => {});
      throw error;
    }
    for (const reset of review.resets) options.log?.(`note: ${reset}`);
    options.log?.(`imported snapshot ${id} of bottle "${slug}" (${loaded.artifact})`);
    options.log?.(`to resume it: bot-bottle resume ${slug}`);
    return {
      slug,
      backend: backend.name,
      snapshotId: id,
      artifact: loaded.artifact,
      resumeCommand: `bot-bottle resume ${slug}`,
      hostAccess: { requested: review.hostAccess, granted },
      env: runConfig?.env ?? [],
      resets: review.resets,
    };
  }, "bot-bottle-import-");
}
