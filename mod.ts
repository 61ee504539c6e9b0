/**
 * bot-bottle's library: snapshot AI-agent bottles (Docker containers, Apple
 * containers, smolvm microVMs) into resumable artifacts, from code.
 *
 * @example
 * ```ts
 * import { commit } from "@bot-bottle/bot-bottle";
 *
 * const result = await commit("dev-abc12");
 * console.log(result.artifact); // bot-bottle-committed-dev-abc12:latest
 * console.log(result.resumeCommand); // bot-bottle resume dev-abc12
 * ```
 *
 * @module
 */

import "./backends/mod.ts";

export { type Agent, loadAgent } from "./lib/state/agent.ts";
export {
  BackendCommands,
  type BackendCommandsOptions,
  type CommandResult,
  commandTimeouts,
  DEFAULT_LONG_TIMEOUT_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
} from "./lib/registry/backend_commands.ts";
export {
  type BottleLock,
  type BottleLockOptions,
  LOCK_FILE,
  lockBottle,
  type LockOptions,
} from "./lib/state/bottle_lock.ts";
export {
  BottleState,
  COMMITTED_IMAGE_FILE,
  listStateSlugs,
  METADATA_FILE,
  PRESERVE_FILE,
  RUN_CONFIG_FILE,
  stateRoot,
} from "./lib/state/bottle_state.ts";
export { commit, type CommitOptions } from "./lib/ops/commit.ts";
export { destroy, type DestroyOptions, type DestroyResult } from "./lib/ops/destroy.ts";
export { type BottleRow, list, type ListOptions } from "./lib/ops/list.ts";
export {
  DEFAULT_KEEP,
  prune,
  pruneAll,
  type PruneOptions,
  type PruneResult,
  retention,
} from "./lib/ops/prune.ts";
export { resume, type ResumeOptions, type ResumeResult } from "./lib/ops/resume.ts";
export { type SnapshotRow, snapshots } from "./lib/ops/snapshots.ts";
export {
  findSnapshot,
  type History,
  HISTORY_FILE,
  newSnapshotId,
  type PushRecord,
  type SnapshotRecord,
} from "./lib/state/snapshot_history.ts";
export type { HistoryAddition, HistoryTail, RecentHistory } from "./lib/state/history_tail.ts";
export { emptyRunConfig, type RunConfig } from "./lib/state/run_config.ts";
export {
  ARCHIVE_FORMAT_VERSION,
  type ArchiveManifest,
  type BottleEntries,
} from "./lib/archive/bottle_archive.ts";
export { type Compression, COMPRESSIONS } from "./lib/archive/archive_compression.ts";
export { exportBottle, type ExportOptions, type ExportResult } from "./lib/ops/export.ts";
export { importBottle, type ImportOptions, type ImportResult } from "./lib/ops/import.ts";
export type { AdoptOptions, AdoptResult } from "./lib/ops/_adopt.ts";
export { pushBottle, type PushOptions, type PushResult } from "./lib/ops/push.ts";
export { pullBottle, type PullOptions, type PullResult } from "./lib/ops/pull.ts";
export type { CompanionManifest } from "./lib/archive/companion.ts";
export {
  COMPANION_SUFFIX,
  type OciReference,
  parseOciReference,
} from "./lib/archive/oci_reference.ts";
export type { ArtifactImages } from "./lib/archive/artifact_names.ts";
export {
  type ConsentOptions,
  type ForeignReview,
  grantHostAccess,
  type HostAccess,
  reviewForeignBottle,
} from "./lib/state/foreign_bottle.ts";
export { start, type StartOptions, type StartResult } from "./lib/ops/start.ts";
export {
  BackendError,
  type BackendFailure,
  BackendTimeoutError,
  BackendUnavailableError,
  BadInputError,
  BotBottleError,
  BottleBusyError,
  Cancelled,
  CommitCancelled,
  Interrupted,
  RegistryAccessError,
  type RegistryFailureKind,
  UsageError,
} from "./lib/errors.ts";
export { CommandRunner } from "./lib/command_runner.ts";
export { OciTransport } from "./lib/oci_transport.ts";
export {
  Backend,
  type BackendClass,
  type BackendOptions,
  type BackendProbe,
  type BackendSpec,
  type PullContext,
  type StopReason,
} from "./lib/backend.ts";
export {
  type BottleStatus,
  type CommitResult,
  type FreezeContext,
  Freezer,
  type FreezerClass,
  type FreezerOptions,
  type FreezerSpec,
  type Frozen,
  type ImportContext,
  type InventoryEntry,
  type PlatformContext,
  type StartSpec,
  type StopSpec,
} from "./lib/freezer.ts";
export type { Metadata } from "./lib/state/metadata.ts";
export { type Prompter, terminalPrompter, type TerminalPrompterOptions } from "./lib/prompter.ts";
export {
  type GetBackendOptions,
  getFreezer,
  type GetFreezerOptions,
  loadRegistry,
  type LoadRegistryOptions,
  type RegisteredBackend,
  Registry,
} from "./lib/registry/registry.ts";
export type { Engine, OciWording, SnapshotMode } from "./lib/registry/registry_schema.ts";
export type { Naming } from "./lib/registry/naming.ts";
export { isSlug, mintSlug, parseSlug, slugFromLabel } from "./lib/state/slug.ts";
export {
  type PlaceholderKind,
  PLACEHOLDERS,
  renderTemplate,
  type Template,
  type TemplateValues,
} from "./lib/registry/template.ts";
export { VERSION } from "./lib/version.ts";
export { ImageBackend } from "./backends/image.ts";
export { DockerBackend, DockerFreezer } from "./backends/docker.ts";
export { MacosContainerBackend, MacosContainerFreezer } from "./backends/macos_container.ts";
export { SmolmachinesBackend, SmolmachinesFreezer } from "./backends/smolmachines.ts";
