/**
 * The `.bottle` format: its version, its members, and `manifest.json` (its
 * schema and checks).
 *
 * @module
 */

import * as v from "valibot";
import { BadInputError } from "../errors.ts";
import { describeIssues } from "../registry/schema_issues.ts";
import { isSlug } from "../state/slug.ts";

/**
 * The archive format this bot-bottle writes: 4, or 1 when asked for gzip for
 * a disk snapshot (a format-1 archive is exactly a gzip-compressed format-2
 * one, and bot-bottle 0.1 reads it).
 */
export const ARCHIVE_FORMAT_VERSION = 4;

/**
 * The first archive format whose manifest leaves out the artifact's SHA-256:
 * it is in the checksum member that follows the artifact
 * ({@linkcode checksumName}), so that `export` reads the artifact once,
 * hashing it as it is archived, instead of hashing it first.
 */
export const CHECKSUM_AFTER_FORMAT_VERSION = 4;

/**
 * The archive format of a full snapshot (`snapshot.mode` `"full"`: a smolvm
 * checkpoint, memory and disk) before format 4: format 2 otherwise, under its
 * own number so that a bot-bottle that cannot resume a checkpoint refuses the
 * file ("upgrade bot-bottle") instead of importing it as a disk snapshot.
 * Format 4 holds either mode, and every bot-bottle that reads it resumes both.
 */
export const FULL_SNAPSHOT_FORMAT_VERSION = 3;

/**
 * The archive formats this bot-bottle reads: 1 (gzip only), 2 (zstd, gzip
 * or none), 3 (format 2 holding a full snapshot) and 4 (either mode, the
 * artifact's SHA-256 after it).
 */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2, 3, 4];

/** The largest checksum member read: a SHA-256, two spaces, a name and a newline fit in it. */
export const MAX_CHECKSUM_MEMBER_BYTES = 1024;

export { type Compression, COMPRESSIONS } from "./archive_compression.ts";

/** The largest `manifest.json`, `metadata.json` or `run-config.json` accepted: 1 MiB. */
export const MAX_JSON_MEMBER_BYTES = 1024 * 1024;

export const MANIFEST = "manifest.json";

export const METADATA = "metadata.json";

export const RUN_CONFIG = "run-config.json";

const RESERVED_NAMES: readonly string[] = [MANIFEST, METADATA, RUN_CONFIG];

/**
 * What every bottle manifest says, an export's and a push's: the bottle, its
 * snapshot, its lineage, the tool version and the machine it was made on.
 */
export interface BottleEntries {
  /** The bottle's slug. */
  slug: string;
  /** The registry name of the backend that made the artifact, e.g. `"docker"`. */
  backend: string;
  /** The snapshot the artifact holds. */
  snapshot: {
    /** Its id, e.g. `20261124T141500Z`. */
    id: string;
    /** When it was made, ISO 8601. */
    createdAt: string;
    /** The snapshot it was resumed from, if any. */
    parent: string | null;
    /** The user's note, if any. */
    message: string | null;
    /**
     * What it holds: `disk`, or `full` (memory and disk, resumed with its
     * processes: same host OS and CPU only). Absent in manifests written
     * before modes existed, which hold `disk` snapshots.
     */
    mode?: "disk" | "full";
  };
  /** The snapshot ids of its lineage, oldest first, ending with `snapshot.id`. */
  lineage: string[];
  /** The bot-bottle version that wrote it. */
  toolVersion: string;
  /**
   * The machine it was written on (`Deno.build.os` and `.arch`): a smolvm
   * snapshot runs only on the CPU architecture it was packed on.
   */
  platform?: { os: string; arch: string };
}

/** What `manifest.json` says: the format, the bottle, the snapshot and the artifact. */
export interface ArchiveManifest extends BottleEntries {
  /** The archive format, {@linkcode ARCHIVE_FORMAT_VERSION} when written by this bot-bottle. */
  formatVersion: number;
  /** When the archive was written, ISO 8601. */
  createdAt: string;
  /**
   * The artifact member: its entry name, SHA-256 (lower-case hex) and size.
   * From format 4 on, `manifest.json` leaves out the SHA-256 and the checksum
   * member after the artifact gives it; the manifest a reader returns has it
   * either way, once the artifact matched it.
   */
  artifact: { name: string; sha256: string; sizeBytes: number };
  /** Whether the archive holds `run-config.json`. */
  hasRunConfig: boolean;
}

const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const ARTIFACT_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;

const SnapshotIdSchema = v.pipe(
  v.string(),
  v.regex(SNAPSHOT_ID, "must be a snapshot id such as 20261124T141500Z"),
);

const ArtifactNameSchema = v.pipe(
  v.string(),
  v.regex(
    ARTIFACT_NAME,
    "must be a plain file name of letters, digits, '.', '_' and '-', not starting with " +
      "'.' or '-', at most 100 characters",
  ),
  v.check((name) => !name.includes(".."), "must not contain '..'"),
  v.check((name) => !RESERVED_NAMES.includes(name), "must not be a name the archive reserves"),
);

const NonEmpty = v.pipe(v.string(), v.nonEmpty("must not be empty"));

/**
 * What every bottle manifest holds, an export's and a push's: the bottle, its
 * snapshot, its lineage, the tool version and the machine it was made on.
 */
export const BOTTLE_ENTRIES = {
  slug: v.pipe(v.string(), v.check(isSlug, "must be a bottle slug such as dev-abc12")),
  backend: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9_-]*$/, "must be a backend name")),
  snapshot: v.object({
    id: SnapshotIdSchema,
    createdAt: NonEmpty,
    parent: v.nullable(SnapshotIdSchema),
    message: v.nullable(v.string()),
    mode: v.exactOptional(v.picklist(["disk", "full"], 'must be "disk" or "full"')),
  }),
  lineage: v.pipe(v.array(SnapshotIdSchema), v.minLength(1, "must not be empty")),
  toolVersion: NonEmpty,
  createdAt: v.pipe(v.string(), v.isoTimestamp("must be an ISO 8601 time")),
  platform: v.exactOptional(v.object({ os: NonEmpty, arch: NonEmpty })),
};

/** The check every bottle manifest passes: its lineage ends with its snapshot. */
export function lineageEndsWithSnapshot(
  manifest: { lineage: string[]; snapshot: { id: string } },
): boolean {
  return manifest.lineage.at(-1) === manifest.snapshot.id;
}

const ManifestSchema = v.pipe(
  v.object({
    formatVersion: v.picklist(
      READABLE_FORMAT_VERSIONS,
      `must be one of ${READABLE_FORMAT_VERSIONS.join(", ")}`,
    ),
    ...BOTTLE_ENTRIES,
    artifact: v.object({
      name: ArtifactNameSchema,
      sha256: v.exactOptional(
        v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits")),
      ),
      sizeBytes: v.pipe(
        v.number(),
        v.safeInteger("must be a whole number"),
        v.minValue(0, "must not be negative"),
      ),
    }),
    hasRunConfig: v.boolean(),
  }),
  v.forward(
    v.check((manifest) => lineageEndsWithSnapshot(manifest), "must end with snapshot.id"),
    ["lineage"],
  ),
  v.forward(
    v.check(
      ({ formatVersion, snapshot }) =>
        formatVersion >= CHECKSUM_AFTER_FORMAT_VERSION ||
        (snapshot.mode === "full") === (formatVersion === FULL_SNAPSHOT_FORMAT_VERSION),
      `must be ${FULL_SNAPSHOT_FORMAT_VERSION} or ${CHECKSUM_AFTER_FORMAT_VERSION} for a full ` +
        `snapshot (snapshot.mode "full"), and ${FULL_SNAPSHOT_FORMAT_VERSION} only for one`,
    ),
    ["formatVersion"],
  ),
  v.forward(
    v.check(
      ({ formatVersion, artifact }) =>
        (artifact.sha256 === undefined) === checksumFollows(formatVersion),
      `must hold the artifact's SHA-256 before format ${CHECKSUM_AFTER_FORMAT_VERSION}, and ` +
        `must not from format ${CHECKSUM_AFTER_FORMAT_VERSION} on (the checksum member after the ` +
        `artifact holds it)`,
    ),
    ["artifact", "sha256"],
  ),
);

/** What `manifest.json` holds: from format 4 on, no artifact SHA-256. */
export type ManifestOnDisk = Omit<ArchiveManifest, "artifact"> & {
  artifact: Omit<ArchiveManifest["artifact"], "sha256"> & { sha256?: string };
};

/** Whether an archive of `formatVersion` gives the artifact's SHA-256 after it, not in its manifest. */
export function checksumFollows(formatVersion: number): boolean {
  return formatVersion >= CHECKSUM_AFTER_FORMAT_VERSION;
}

/**
 * The checksum member of an artifact (format 4 on): `<artifact>.sha256`,
 * holding `<sha256>  <artifact>` and a newline, as `sha256sum` writes it, so
 * that `sha256sum -c` checks an unpacked archive.
 */
export function checksumName(artifactName: string): string {
  return `${artifactName}.sha256`;
}

/** The text of the checksum member of `artifactName`. */
export function checksumText(artifactName: string, sha256: string): string {
  return `${sha256}  ${artifactName}\n`;
}

export function expectedNames(manifest: ManifestOnDisk): string[] {
  return [
    MANIFEST,
    METADATA,
    ...(manifest.hasRunConfig ? [RUN_CONFIG] : []),
    manifest.artifact.name,
    ...checksumFollows(manifest.formatVersion) ? [checksumName(manifest.artifact.name)] : [],
  ];
}

export function nameProblem(name: string): string | undefined {
  if (name.includes("\0")) return "which holds a NUL character";
  if (name.includes("/") || name.includes("\\")) return "a path, where only flat names belong";
  if (name.includes("..")) return "which holds '..'";
  if (name.startsWith("-")) return "which starts with '-'";
  if (name === "" || name === ".") return "which is not a file name";
  return undefined;
}

export function checkManifest(manifest: unknown): ManifestOnDisk {
  const result = v.safeParse(ManifestSchema, manifest);
  if (result.success) return result.output;
  throw new BadInputError(
    `cannot write the archive: its manifest is invalid (${
      describeIssues(result.issues).join("; ")
    }); nothing was written`,
  );
}

export function parseManifest(
  file: string,
  text: string,
  refuse: (problem: string, cause?: unknown) => BadInputError,
): ManifestOnDisk {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw refuse(`its ${MANIFEST} is not JSON (${(error as Error).message})`, error);
  }
  const version = (value as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === "number" && !READABLE_FORMAT_VERSIONS.includes(version)) {
    throw new BadInputError(
      `${file} is an archive of format ${version}, but this bot-bottle reads only formats ` +
        `${READABLE_FORMAT_VERSIONS.slice(0, -1).join(", ")} and ` +
        `${READABLE_FORMAT_VERSIONS.at(-1)}; it was probably written by a newer ` +
        `bot-bottle, so upgrade bot-bottle to import it`,
    );
  }
  const result = v.safeParse(ManifestSchema, value);
  if (result.success) return result.output;
  throw refuse(`its ${MANIFEST} is invalid (${describeIssues(result.issues).join("; ")})`);
}
