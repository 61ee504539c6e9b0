/**
 * What a backend is told and tells: the plain data its methods take and
 * return ({@linkcode Backend}).
 *
 * @module
 */

import type { ArtifactImages } from "./archive/artifact_names.ts";
import type { SnapshotMode } from "./registry/registry_schema.ts";

/** What a backend reports about itself here, from {@linkcode Backend.probe}. */
export interface BackendProbe {
  /** The engine's version, when its `version` command tells one. */
  version?: string;
  /** What this version can do that others cannot, e.g. `live export`. */
  features: string[];
  /** Why it cannot run bottles although it answers, e.g. a version too old. */
  problem?: string;
}

/** A bottle's state as bot-bottle reports it. */
export type BottleStatus = "running" | "stopped" | "absent";

/** What a backend knows about one bottle, from {@linkcode Backend.inventory}. */
export interface InventoryEntry {
  /** The bottle's state. */
  state: BottleStatus;
  /** Whether its snapshot exists in the backend (`false` when it has none). */
  snapshotExists: boolean;
  /** The snapshot's size in bytes, when the backend tells. */
  snapshotBytes?: number;
}

/** Why a bottle stopped, from {@linkcode Backend.stopReason}. */
export interface StopReason {
  /** Its main process's exit status, when the backend tells. */
  exitCode?: number;
  /** The last lines of its output (stdout and stderr), when the backend tells. */
  output?: string;
}

/** What a new bottle runs. */
export interface StartSpec {
  /** The image (an image reference; for smolvm, what `machine create --image` takes). */
  image: string;
  /** Environment variables, `NAME=value`. */
  env: string[];
  /** Bind mounts, `HOST:GUEST[:ro]`. */
  volumes: string[];
  /** The command and its arguments (empty: the image's default). */
  command: string[];
}

/** What {@linkcode Backend.importArtifact} is given besides the artifact. */
export interface ImportContext {
  /** The new snapshot's id, for the artifact's name. */
  id: string;
  /** The artifact of the bottle's newest snapshot before this one, if there is one. */
  previous?: string;
  /** The artifacts of the bottle's snapshots before this one, oldest first. */
  earlier: readonly string[];
  /**
   * Steps that undo what the import made so far; they run, last first, when
   * the import fails or is interrupted (see {@linkcode Backend.unwind}).
   */
  undo: AsyncDisposableStack;
  /** The `.bottle` file, for messages. */
  source: string;
  /** The snapshot's id in the file (`id` may differ, when the bottle here already has it). */
  snapshotId: string;
  /** What the artifact's own manifests name (image backends refuse any other name). */
  images?: ArtifactImages;
}

/** What {@linkcode Backend.checkPlatform} is told of an exported snapshot. */
export interface PlatformContext {
  /** The `.bottle` file, for messages. */
  source: string;
  /** What the snapshot holds: `disk`, or `full` (memory and disk). */
  mode: SnapshotMode;
  /** The artifact's name in the file, e.g. `artifact.smolmachine`. */
  artifactName: string;
  /** The exporting machine (`Deno.build.os` and `.arch`), when the file says. */
  platform?: { os: string; arch: string };
}

/** What {@linkcode Backend.pullSnapshot} is given besides the reference. */
export interface PullContext extends ImportContext {
  /** The digest the bottle's companion says its snapshot has (`sha256:…`). */
  digest: string;
}
