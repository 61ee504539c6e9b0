/**
 * Moving a bottle to another machine, second half: `bot-bottle import`
 * checks an exported file, loads its snapshot into the backend, and writes
 * the bottle's state directory.
 *
 * @module
 */

import { readBottleArchive } from "../archive/bottle_archive.ts";
import { stateRoot } from "../state/bottle_state.ts";
import { parseSlug } from "../state/slug.ts";
import { loadRegistry, type Registry } from "../registry/registry.ts";
import { withTempDir } from "../temp_dir.ts";
import { adoptForeignBottle, type AdoptOptions, type AdoptResult } from "./_adopt.ts";

/** Options for {@linkcode importBottle}. */
export interface ImportOptions extends AdoptOptions {
  /** Called as the artifact is read, with bytes done and the total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode importBottle} did. */
export type ImportResult = AdoptResult;

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
    const backend = registry.getBackend(manifest.backend, options);
    return await adoptForeignBottle(
      {
        source: file,
        again: "import it again with --allow-host-access (and --force, to add it to this bottle)",
        operation: "import",
        verb: "imported",
        slug: manifest.slug,
        snapshot: manifest.snapshot,
        toolVersion: manifest.toolVersion,
        sizeBytes: manifest.artifact.sizeBytes,
        metadata: archive.metadata,
        runConfig: archive.runConfig,
        record: { mode: manifest.snapshot.mode ?? "disk" },
      },
      backend,
      root,
      options,
      (slug, state, context) =>
        backend.importArtifact(slug, manifest.slug, archive.artifactPath, state.dir, {
          ...context,
          source: file,
          snapshotId: manifest.snapshot.id,
          images: archive.artifactImages,
        }),
      // Before anything here changes: what the artifact would name (image backends).
      () =>
        backend.checkImport({
          source: file,
          from: manifest.slug,
          snapshotId: manifest.snapshot.id,
          images: archive.artifactImages,
        }),
    );
  }, "bot-bottle-import-");
}
