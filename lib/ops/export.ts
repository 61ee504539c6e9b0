/**
 * Moving a bottle to another machine, first half: `bot-bottle export`
 * writes one verified file holding a snapshot, its metadata and its lineage.
 *
 * @module
 */

import { resolve } from "node:path";

import { openBottle } from "./open.ts";
import type { BottleLockOptions } from "../state/bottle_lock.ts";
import type { Compression } from "../archive/archive_compression.ts";
import { type ArchiveManifest, writeBottleArchive } from "../archive/bottle_archive.ts";
import { BadInputError } from "../errors.ts";
import { type GetFreezerOptions, type Registry } from "../registry/registry.ts";
import { chooseSnapshot, readOutgoing } from "./_outgoing.ts";
import { withTempDir } from "../temp_dir.ts";

/** Options for {@linkcode exportBottle}. */
export interface ExportOptions extends GetFreezerOptions, BottleLockOptions {
  /** The snapshot: an id or `~N` (default: the newest). */
  at?: string;
  /** The file to write (default: `<slug>-<id>.bottle` in the current directory). */
  out?: string;
  /** How to compress the file (default: zstd). */
  compression?: Compression;
  /** Called as the artifact is written, with bytes done and the total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode exportBottle} wrote. */
export interface ExportResult {
  /** The file written. */
  file: string;
  /** Its manifest. */
  manifest: ArchiveManifest;
}

/**
 * Writes a snapshot of the bottle `slug` as one file: a zstd-compressed tar
 * of a manifest (format version, slug, backend, snapshot, lineage, tool
 * version, the artifact's SHA-256 and size), `metadata.json`,
 * `run-config.json`, and the artifact. The artifact streams through; the
 * file appears only when complete, with mode 0600.
 *
 * @param slug The bottle's slug.
 * @param options Which snapshot, where, and progress.
 * @returns The file and its manifest.
 * @throws {BadInputError} When the bottle, the snapshot or its artifact is
 * missing, or the file exists.
 *
 * @example
 * ```ts
 * import { exportBottle } from "@bot-bottle/bot-bottle";
 * const { file } = await exportBottle("dev-abc12", { out: "/tmp/dev.bottle" });
 * ```
 */
export async function exportBottle(
  slug: string,
  options: ExportOptions = {},
): Promise<ExportResult> {
  // Shared: exports run side by side, but not while the bottle's snapshots change.
  await using bottle = await openBottle(slug, "export", options, { shared: true });
  const { agent, backend } = bottle;
  const chosen = await chooseSnapshot(agent, backend, options.at, "export");
  const { snapshot } = chosen;
  const file = options.out ?? `${slug}-${snapshot.id}.bottle`;
  if (await Deno.lstat(file).then(() => true, () => false)) {
    throw new BadInputError(`${file} already exists; pass another -o, or remove it`);
  }
  const { metadataJson, runConfigJson, entries } = await readOutgoing(
    agent,
    backend,
    chosen,
    "export",
  );
  const manifest = await withTempDir(async (dir) => {
    const artifact = await backend.exportArtifact(agent, snapshot.artifact, dir);
    return await writeBottleArchive(file, {
      manifest: entries,
      metadataJson,
      ...runConfigJson === undefined ? {} : { runConfigJson },
      artifactPath: artifact.path,
      artifactName: artifact.name,
      ...options.onProgress === undefined ? {} : { onProgress: options.onProgress },
      ...options.signal === undefined ? {} : { signal: options.signal },
      ...options.compression === undefined ? {} : { compression: options.compression },
    });
  }, "bot-bottle-export-");
  return { file: resolve(file), manifest };
}
