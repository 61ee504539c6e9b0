/**
 * Writes an OCI image-layout archive from a root filesystem tar: the format
 * that `container image load` (and `docker load`, `skopeo`) read. Used to
 * turn `container export` output back into a runnable image without a
 * builder.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { dax } from "../_internal/dax.ts";

/** The runtime config of an image (the `config` object of an OCI image config). */
export interface OciImageConfig {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
}

/** What to write. */
export interface OciImageSpec {
  /** The image's names, e.g. `bot-bottle-committed-dev-abc12:latest`: one index entry each. */
  references: string[];
  /** An uncompressed tar of the root filesystem. It is moved into the layout. */
  layer: string;
  /** The runtime config. */
  config: OciImageConfig;
  /** The platform, e.g. `{ os: "linux", architecture: "arm64" }`. */
  platform: { os: string; architecture: string; variant?: string };
  /** When the image was made (default: now). */
  created?: Date;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/**
 * Builds the OCI image layout for `spec` in `workDir` and archives it as the
 * tar `out`. The layer is hashed as a stream, never held in memory.
 *
 * @param workDir A private directory to build the layout in.
 * @param spec The image.
 * @param out The archive to write.
 */
export async function writeOciImageArchive(
  workDir: string,
  spec: OciImageSpec,
  out: string,
): Promise<void> {
  const layout = join(workDir, "image");
  const blobs = join(layout, "blobs", "sha256");
  await Deno.mkdir(blobs, { recursive: true });

  const layerDigest = await sha256File(spec.layer);
  const layer: Descriptor = {
    mediaType: "application/vnd.oci.image.layer.v1.tar",
    digest: `sha256:${layerDigest}`,
    size: (await Deno.stat(spec.layer)).size,
  };
  await Deno.rename(spec.layer, join(blobs, layerDigest));

  const created = (spec.created ?? new Date()).toISOString();
  const config = await writeBlob(blobs, "application/vnd.oci.image.config.v1+json", {
    created,
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
    config: spec.config,
    rootfs: { type: "layers", diff_ids: [layer.digest] },
    history: [{ created, created_by: "bot-bottle commit (container export)" }],
  });
  const manifest = await writeBlob(blobs, "application/vnd.oci.image.manifest.v1+json", {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config,
    layers: [layer],
  });
  await Deno.writeTextFile(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: spec.references.map((reference) => ({
        ...manifest,
        platform: spec.platform,
        annotations: {
          "io.containerd.image.name": reference,
          "org.opencontainers.image.ref.name": reference.match(/:([^:/@]+)$/)?.[1] ?? "latest",
        },
      })),
    }),
  );
  await Deno.writeTextFile(
    join(layout, "oci-layout"),
    JSON.stringify({ imageLayoutVersion: "1.0.0" }),
  );
  const $ = await dax();
  await $`tar -C ${layout} -cf ${out} oci-layout index.json blobs`.quiet();
}

async function writeBlob(dir: string, mediaType: string, value: unknown): Promise<Descriptor> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const digest = createHash("sha256").update(bytes).digest("hex");
  await Deno.writeFile(join(dir, digest), bytes);
  return { mediaType, digest: `sha256:${digest}`, size: bytes.length };
}

/**
 * Hashes a file with SHA-256, reading it as a stream.
 *
 * @param path The file.
 * @returns The lower-case hex digest.
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk); // closes the file at the end
  return hash.digest("hex");
}
