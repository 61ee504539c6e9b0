// Crafted .bottle files, as a compromised agent or another person could
// write them: a correct SHA-256 and manifest around an artifact or a run
// configuration that asks for more than the bottle's own.

import { $ } from "dax";
import { join } from "node:path";
import { writeBottleArchive } from "../../lib/archive/bottle_archive.ts";
import { docker, TEST_IMAGE } from "./docker.ts";
import { launcherMetadata } from "./temp_home.ts";

/** The snapshot id every crafted archive holds. */
export const CRAFTED_ID = "20261124T141500Z";

/** A local image of the test image with `/pwned` in it, named `name`; returns its id. */
export async function pwnedImage(name: string): Promise<string> {
  const container = `crafted-${crypto.randomUUID().slice(0, 8)}`;
  await docker("create", "--name", container, TEST_IMAGE, "true");
  try {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(join(dir, "pwned"), "pwned\n");
      await docker("cp", join(dir, "pwned"), `${container}:/pwned`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    await docker("commit", container, name);
  } finally {
    await docker("rm", "-f", container);
  }
  return await docker("image", "inspect", "--format", "{{.Id}}", name);
}

/** A local image of the test image whose command is `sleep 3600`, named `name`. */
export async function sleeperImage(name: string): Promise<void> {
  const container = `crafted-${crypto.randomUUID().slice(0, 8)}`;
  await docker("create", "--name", container, TEST_IMAGE, "sleep", "3600");
  try {
    await docker("commit", container, name);
  } finally {
    await docker("rm", "-f", container);
  }
}

/** The id of a local image, or `undefined` when there is none of that name. */
export async function imageId(name: string): Promise<string | undefined> {
  return await docker("image", "inspect", "--format", "{{.Id}}", name).catch(() => undefined);
}

/**
 * `docker save` of `image` into `dir`, with its `manifest.json` edited by
 * `edit` (e.g. to list other RepoTags); returns the tar's path.
 */
export async function savedArtifact(
  dir: string,
  image: string | string[],
  edit: (manifest: { RepoTags: string[] | null }[]) => unknown = (manifest) => manifest,
): Promise<string> {
  const unpacked = join(dir, "unpacked");
  await Deno.mkdir(unpacked, { recursive: true });
  const saved = join(dir, "saved.tar");
  await docker("save", "-o", saved, ...[image].flat());
  await $`tar -C ${unpacked} -xf ${saved}`;
  const path = join(unpacked, "manifest.json");
  await Deno.writeTextFile(path, JSON.stringify(edit(JSON.parse(await Deno.readTextFile(path)))));
  const out = join(dir, "artifact.docker.tar");
  await $`tar -C ${unpacked} -cf ${out} .`;
  return out;
}

/** What {@linkcode craftedBottle} writes. */
export interface CraftedBottle {
  /** The slug in the archive's manifest. */
  slug: string;
  /** The backend it claims. */
  backend?: string;
  /** The artifact file. */
  artifactPath: string;
  /** Its name in the archive (default `artifact.<backend>.tar`). */
  artifactName?: string;
  /** `run-config.json`, when the archive has one. */
  runConfig?: Record<string, unknown>;
  /** Extra `metadata.json` fields. */
  metadata?: Record<string, unknown>;
  /** The snapshot's mode, when the manifest says. */
  mode?: "disk" | "full";
  /** The exporting machine, when the manifest says. */
  platform?: { os: string; arch: string };
}

/** Writes a valid bottle archive around `spec` at `out`. */
export async function craftedBottle(out: string, spec: CraftedBottle): Promise<string> {
  const backend = spec.backend ?? "docker";
  await writeBottleArchive(out, {
    manifest: {
      slug: spec.slug,
      backend,
      snapshot: {
        id: CRAFTED_ID,
        createdAt: "2026-11-24T14:15:00Z",
        parent: null,
        message: null,
        ...spec.mode ? { mode: spec.mode } : {},
      },
      lineage: [CRAFTED_ID],
      toolVersion: "0.1.0",
      ...spec.platform ? { platform: spec.platform } : {},
    },
    metadataJson: JSON.stringify(
      launcherMetadata(spec.slug, { backend, ...spec.metadata ?? {} }),
    ),
    ...spec.runConfig ? { runConfigJson: JSON.stringify(spec.runConfig) } : {},
    artifactPath: spec.artifactPath,
    artifactName: spec.artifactName ?? `artifact.${backend}.tar`,
  });
  return out;
}

/** A run configuration as `commit` records it, with `extra` over it. */
export function runConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { env: [], volumes: [], labels: [], tty: false, interactive: false, ...extra };
}
