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
import { METADATA_FILE, RUN_CONFIG_FILE } from "../state/bottle_state.ts";
import { type GetFreezerOptions, type Registry } from "../registry/registry.ts";
import { findSnapshot, type History } from "../state/snapshot_history.ts";
import { withTempDir } from "../temp_dir.ts";
import { VERSION } from "../version.ts";

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
  const history = await agent.state.readHistory(backend.name);
  if (history.snapshots.length === 0) {
    throw new BadInputError(
      `bottle "${slug}" has no snapshot to export; commit it first: bot-bottle commit ${slug}`,
    );
  }
  const snapshot = findSnapshot(history, options.at ?? "~0", slug);
  const file = options.out ?? `${slug}-${snapshot.id}.bottle`;
  if (await Deno.lstat(file).then(() => true, () => false)) {
    throw new BadInputError(`${file} already exists; pass another -o, or remove it`);
  }
  if (!(await backend.snapshotExists(snapshot.artifact))) {
    throw new BadInputError(
      `the snapshot ${snapshot.id} of bottle "${slug}", ${snapshot.artifact}, no longer exists ` +
        `on ${backend.name}; export another one (see "bot-bottle snapshots ${slug}")`,
    );
  }
  // The text openBottle read and validated, under the same lock: read once.
  const metadataJson = agent.state.metadataText ?? await agent.state.readText(METADATA_FILE);
  if (metadataJson === undefined) {
    throw new BadInputError(
      `${agent.state.path(METADATA_FILE)} disappeared during the export; nothing was ` +
        `written: restore the file and export again`,
    );
  }
  const runConfigJson = await agent.state.readText(RUN_CONFIG_FILE);
  const manifest = await withTempDir(async (dir) => {
    const artifact = await backend.exportArtifact(agent, snapshot.artifact, dir);
    return await writeBottleArchive(file, {
      manifest: {
        slug,
        backend: backend.name,
        snapshot: {
          id: snapshot.id,
          createdAt: snapshot.createdAt,
          parent: snapshot.parent,
          message: snapshot.message,
          ...snapshot.mode === undefined ? {} : { mode: snapshot.mode },
        },
        lineage: lineageOf(history, snapshot.id),
        toolVersion: VERSION,
        platform: { os: Deno.build.os, arch: Deno.build.arch },
      },
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

/**
 * The ids from the oldest known ancestor of `id` to `id`, following `parent`.
 *
 * @param history The bottle's history.
 * @param id The snapshot.
 * @returns The lineage, oldest first.
 */
export function lineageOf(history: History, id: string): string[] {
  const byId = new Map(history.snapshots.map((record) => [record.id, record]));
  const lineage: string[] = [];
  for (let at: string | null = id; at !== null && !lineage.includes(at);) {
    lineage.unshift(at);
    at = byId.get(at)?.parent ?? null;
  }
  return lineage;
}
