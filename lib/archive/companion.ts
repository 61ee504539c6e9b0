/**
 * A pushed bottle's companion: what `resume` needs besides the snapshot,
 * carried through a registry beside it (`<tag>.bottle`). It is a plain tar
 * of three members, each backend carrying it as its own kind of artifact (a
 * one-layer image, a smolvm artifact):
 *
 * 1. `manifest.json`: like an export's (format, bottle, snapshot, lineage,
 *    tool version, platform), with the snapshot's registry digest and the
 *    SHA-256 of each other member;
 * 2. `metadata.json`, the bottle's metadata as it was;
 * 3. `run-config.json`, when the bottle has one.
 *
 * `bot-bottle pull` reads it first, checks every member against the
 * manifest, and then pulls the snapshot and checks its digest against the
 * manifest's.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import * as v from "valibot";
import { pack as tarPack } from "tar-stream";
import { TarWalk, TarWalkError } from "../_internal/tar_walk.ts";
import { BadInputError } from "../errors.ts";
import { describeIssues } from "../registry/schema_issues.ts";
import {
  BOTTLE_ENTRIES,
  type BottleEntries,
  lineageEndsWithSnapshot,
  MANIFEST,
  MAX_JSON_MEMBER_BYTES,
  METADATA,
  RUN_CONFIG,
} from "./manifest.ts";

/** The companion format this bot-bottle writes and reads. */
export const COMPANION_FORMAT_VERSION = 1;

/** The largest companion read: its three members at their largest, and tar's own bytes. */
export const MAX_COMPANION_BYTES = 3 * MAX_JSON_MEMBER_BYTES + 64 * 1024;

/** What a companion's `manifest.json` says. */
export interface CompanionManifest extends BottleEntries {
  /** {@linkcode COMPANION_FORMAT_VERSION}. */
  formatVersion: number;
  /** Always `"bot-bottle"`: what tells a companion from any other image. */
  kind: "bot-bottle";
  /** When it was pushed, ISO 8601. */
  createdAt: string;
  /** The snapshot in the registry: its reference as pushed and its digest. */
  artifact: { ref: string; digest: string };
  /** The other members: name, SHA-256 (lower-case hex) and size. */
  files: { name: string; sha256: string; sizeBytes: number }[];
}

const CompanionSchema = v.pipe(
  v.object({
    formatVersion: v.literal(COMPANION_FORMAT_VERSION),
    kind: v.literal("bot-bottle"),
    ...BOTTLE_ENTRIES,
    artifact: v.object({
      ref: v.pipe(v.string(), v.nonEmpty()),
      digest: v.pipe(v.string(), v.regex(/^sha256:[0-9a-f]{64}$/, "must be a sha256 digest")),
    }),
    files: v.array(v.object({
      name: v.picklist([METADATA, RUN_CONFIG]),
      sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits")),
      sizeBytes: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
    })),
  }),
  v.forward(
    v.check((manifest) => lineageEndsWithSnapshot(manifest), "must end with snapshot.id"),
    ["lineage"],
  ),
);

/** What a companion holds, checked. */
export interface Companion {
  /** Its manifest. */
  manifest: CompanionManifest;
  /** `metadata.json`, parsed (not yet validated as metadata). */
  metadata: unknown;
  /** `run-config.json`, parsed, when there is one (not yet validated). */
  runConfig?: unknown;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Writes a companion tar to `path`.
 *
 * @param path Where to write it.
 * @param input The manifest less what is filled in here, and the members' texts.
 * @returns The manifest written.
 */
export async function writeCompanion(
  path: string,
  input: {
    manifest: Omit<CompanionManifest, "formatVersion" | "kind" | "files" | "createdAt">;
    metadataJson: string;
    runConfigJson?: string | undefined;
  },
): Promise<CompanionManifest> {
  const members: [string, Uint8Array][] = [[
    METADATA,
    new TextEncoder().encode(input.metadataJson),
  ]];
  if (input.runConfigJson !== undefined) {
    members.push([RUN_CONFIG, new TextEncoder().encode(input.runConfigJson)]);
  }
  const manifest: CompanionManifest = {
    formatVersion: COMPANION_FORMAT_VERSION,
    kind: "bot-bottle",
    ...input.manifest,
    createdAt: new Date().toISOString(),
    files: members.map(([name, bytes]) => ({
      name,
      sha256: sha256(bytes),
      sizeBytes: bytes.byteLength,
    })),
  };
  const checked = v.safeParse(CompanionSchema, manifest);
  if (!checked.success) {
    throw new BadInputError(
      `cannot push: the bottle's manifest would be invalid (${
        describeIssues(checked.issues).join("; ")
      }); nothing was pushed`,
    );
  }
  const pack = tarPack();
  const chunks: Uint8Array[] = [];
  pack.on("data", (chunk: unknown) => {
    chunks.push(chunk as Uint8Array);
  });
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  const mtime = new Date(0);
  for (
    const [name, bytes] of [
      [MANIFEST, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n")] as const,
      ...members,
    ]
  ) {
    pack.entry({ name, size: bytes.byteLength, mode: 0o644, mtime }, Buffer.from(bytes));
  }
  pack.finalize();
  await ended;
  await Deno.writeFile(path, Buffer.concat(chunks), { mode: 0o600 });
  return manifest;
}

/**
 * The regular files of a small tar, by name: for a companion, and for the
 * one-layer images that carry it.
 *
 * @param bytes The tar.
 * @returns Each file's bytes, by its name (a leading `./` removed).
 * @throws {TarWalkError} When it is not a tar.
 */
export function tarFiles(bytes: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const walk = new TarWalk({
    entry: (header) => header.type === "file",
    data: (header, data) => files.set(header.name.replace(/^\.\//, ""), data.slice()),
  });
  walk.write(bytes);
  return files;
}

/**
 * Reads and checks a companion: exactly its members, its manifest valid,
 * each member's SHA-256 and size as the manifest says, each JSON.
 *
 * @param bytes The companion tar.
 * @param source The reference it came from, for messages.
 * @returns The companion.
 * @throws {BadInputError} When it is not a bottle's companion ("is not a
 * bottle"), or a member does not match the manifest ("digest mismatch").
 */
export function readCompanion(bytes: Uint8Array, source: string): Companion {
  const notBottle = (why: string) =>
    new BadInputError(
      `${source} is not a bottle (${why}); pull a reference that "bot-bottle push" printed`,
    );
  if (bytes.byteLength > MAX_COMPANION_BYTES) {
    throw notBottle(`its state is ${bytes.byteLength} bytes, more than a bottle's`);
  }
  let files: Map<string, Uint8Array>;
  try {
    files = tarFiles(bytes);
  } catch (error) {
    if (error instanceof TarWalkError) throw notBottle(`its state is not a tar: ${error.message}`);
    throw error;
  }
  const manifestBytes = files.get(MANIFEST);
  if (!manifestBytes) throw notBottle(`it holds no ${MANIFEST}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(manifestBytes));
  } catch {
    throw notBottle(`its ${MANIFEST} is not JSON`);
  }
  const format = (value as { formatVersion?: unknown } | null)?.formatVersion;
  if (
    (value as { kind?: unknown } | null)?.kind === "bot-bottle" && typeof format === "number" &&
    format !== COMPANION_FORMAT_VERSION
  ) {
    throw new BadInputError(
      `${source} was pushed in format ${format}, but this bot-bottle reads only format ` +
        `${COMPANION_FORMAT_VERSION}; it was probably pushed by a newer bot-bottle, so upgrade ` +
        `bot-bottle to pull it`,
    );
  }
  const parsed = v.safeParse(CompanionSchema, value);
  if (!parsed.success) {
    throw notBottle(`its ${MANIFEST} is invalid: ${describeIssues(parsed.issues)[0]}`);
  }
  const manifest = parsed.output as CompanionManifest;
  const expected = new Set([MANIFEST, ...manifest.files.map((file) => file.name)]);
  const extra = [...files.keys()].find((name) => !expected.has(name));
  if (extra !== undefined) throw notBottle(`it holds ${JSON.stringify(extra)}, not a member`);
  if (!manifest.files.some((file) => file.name === METADATA)) {
    throw notBottle(`its ${MANIFEST} lists no ${METADATA}`);
  }
  const json: Record<string, unknown> = {};
  for (const file of manifest.files) {
    const member = files.get(file.name);
    if (!member) throw notBottle(`${file.name} is missing`);
    const actual = sha256(member);
    if (actual !== file.sha256 || member.byteLength !== file.sizeBytes) {
      throw new BadInputError(
        `digest mismatch: ${file.name} of ${source} has SHA-256 ${actual}, but its manifest ` +
          `says ${file.sha256}; it was altered in the registry or on the way: nothing was ` +
          `written; push the bottle again`,
      );
    }
    if (member.byteLength > MAX_JSON_MEMBER_BYTES) throw notBottle(`${file.name} is too large`);
    try {
      json[file.name] = JSON.parse(new TextDecoder().decode(member));
    } catch {
      throw notBottle(`its ${file.name} is not JSON`);
    }
  }
  return {
    manifest,
    metadata: json[METADATA],
    ...Object.hasOwn(json, RUN_CONFIG) ? { runConfig: json[RUN_CONFIG] } : {},
  };
}

/**
 * The one layer of an image saved to `path` (by `docker save`, classic or
 * OCI layout, or `container image save`, an OCI layout): a companion travels
 * as such an image, its tar the layer.
 *
 * @param path The saved image.
 * @param ref The image's reference, for messages.
 * @returns The layer tar's bytes.
 * @throws {BadInputError} When it is not an image of one small layer ("not a bottle").
 */
export async function savedLayer(path: string, ref: string): Promise<Uint8Array> {
  const notBottle = (why: string) =>
    new BadInputError(
      `${ref.replace(/\.bottle$/, "")} is not a bottle (${ref} ${why}); pull a reference that ` +
        `"bot-bottle push" printed`,
    );
  const size = (await Deno.stat(path)).size;
  if (size > 2 * MAX_COMPANION_BYTES) {
    throw notBottle(`is ${size} bytes, more than a bottle's state`);
  }
  let files: Map<string, Uint8Array>;
  try {
    files = tarFiles(await Deno.readFile(path));
  } catch (error) {
    if (error instanceof TarWalkError) throw notBottle("is not a saved image");
    throw error;
  }
  const json = (name: string): Record<string, unknown> | undefined => {
    const bytes = files.get(name);
    if (!bytes) return undefined;
    try {
      const value = JSON.parse(new TextDecoder().decode(bytes));
      return typeof value === "object" && value !== null ? value : undefined;
    } catch {
      return undefined;
    }
  };
  const blob = (digest: unknown) =>
    typeof digest === "string" && /^sha256:[0-9a-f]{64}$/.test(digest)
      ? `blobs/sha256/${digest.slice(7)}`
      : "";
  // `docker save`: manifest.json names the layers by path.
  const saved = json("manifest.json") as unknown;
  let layers: unknown[] | undefined = Array.isArray(saved)
    ? (saved[0] as { Layers?: unknown[] } | undefined)?.Layers
    : undefined;
  // An OCI layout: index.json → (nested indexes) → a manifest → its layers.
  let node = layers ? undefined : json("index.json");
  for (let depth = 0; node && !layers && depth < 4; depth++) {
    if (Array.isArray(node.layers)) {
      layers = node.layers.map((layer) => blob((layer as { digest?: unknown }).digest));
    } else if (Array.isArray(node.manifests) && node.manifests.length === 1) {
      node = json(blob((node.manifests[0] as { digest?: unknown }).digest));
    } else node = undefined;
  }
  if (!Array.isArray(layers) || layers.length !== 1 || typeof layers[0] !== "string") {
    throw notBottle("is not an image of one layer");
  }
  const layer = files.get(layers[0]);
  if (!layer) throw notBottle("lacks its layer");
  return layer;
}
