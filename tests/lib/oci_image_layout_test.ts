// writeOciImageArchive(): the archive's structure and digests, and, where
// skopeo and Docker are here, that a real OCI consumer loads and runs it.

import { deepStrictEqual, equal } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { $ } from "dax";
import { sha256File, writeOciImageArchive } from "../../lib/archive/oci_image_layout.ts";
import { withTempDir } from "../../lib/temp_dir.ts";
import { docker, dockerTest, startBottle } from "../_helpers/docker.ts";

async function makeRootfsTar(dir: string, files: Record<string, string>): Promise<string> {
  const root = join(dir, "rootfs");
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), content);
  }
  const tar = join(dir, "rootfs.tar");
  await $`tar -C ${root} -cf ${tar} .`;
  return tar;
}

Deno.test("writeOciImageArchive() writes a valid OCI layout: digests, sizes, config, name", async () => {
  await withTempDir(async (dir) => {
    const layer = await makeRootfsTar(dir, { "work/notes.txt": "agent work\n" });
    const layerDigest = await sha256File(layer);
    const archive = join(dir, "image.tar");
    await writeOciImageArchive(join(dir, "build"), {
      references: ["bot-bottle-committed-dev-abc12:latest"],
      layer,
      config: {
        Cmd: ["/bin/sh", "-c", "sleep infinity"],
        Env: ["A=1"],
        WorkingDir: "/work",
        User: "dev",
      },
      platform: { os: "linux", architecture: "arm64" },
      created: new Date("2026-11-24T14:15:00Z"),
    }, archive);

    const out = join(dir, "out");
    await Deno.mkdir(out);
    await $`tar -C ${out} -xf ${archive}`;
    deepStrictEqual(JSON.parse(await Deno.readTextFile(join(out, "oci-layout"))), {
      imageLayoutVersion: "1.0.0",
    });
    const index = JSON.parse(await Deno.readTextFile(join(out, "index.json")));
    equal(index.schemaVersion, 2);
    equal(index.manifests.length, 1);
    const [entry] = index.manifests;
    deepStrictEqual(entry.annotations, {
      "io.containerd.image.name": "bot-bottle-committed-dev-abc12:latest",
      "org.opencontainers.image.ref.name": "latest",
    });
    const blob = async (digest: string, size: number) => {
      const bytes = await Deno.readFile(
        join(out, "blobs", "sha256", digest.slice("sha256:".length)),
      );
      equal(bytes.length, size, `size of ${digest}`);
      equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, digest);
      return bytes;
    };
    const manifest = JSON.parse(new TextDecoder().decode(await blob(entry.digest, entry.size)));
    equal(manifest.config.mediaType, "application/vnd.oci.image.config.v1+json");
    equal(manifest.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar");
    equal(manifest.layers[0].digest, `sha256:${layerDigest}`);
    await blob(manifest.layers[0].digest, manifest.layers[0].size);
    const config = JSON.parse(
      new TextDecoder().decode(await blob(manifest.config.digest, manifest.config.size)),
    );
    equal(config.architecture, "arm64");
    equal(config.os, "linux");
    deepStrictEqual(config.rootfs, { type: "layers", diff_ids: [`sha256:${layerDigest}`] });
    deepStrictEqual(config.config, {
      Cmd: ["/bin/sh", "-c", "sleep infinity"],
      Env: ["A=1"],
      WorkingDir: "/work",
      User: "dev",
    });
    equal(config.created, "2026-11-24T14:15:00.000Z");
  });
});

// CI installs skopeo and requires it with Docker; elsewhere its absence is reported.
const hasSkopeo = await $.commandExists("skopeo");
if (hasSkopeo || Deno.env.get("BOT_BOTTLE_REQUIRE_DOCKER") === "1") {
  dockerTest(
    "an archive made from a docker export loads with skopeo and runs with its config",
    async () => {
      await using bottle = await startBottle();
      await bottle.exec("sh", "-c", "mkdir -p /work && echo carried-over > /work/marker");
      const reference = `bot-bottle-oci-test-${bottle.slug}:latest`;
      try {
        await withTempDir(async (dir) => {
          const layer = join(dir, "rootfs.tar");
          await docker("export", "-o", layer, bottle.container);
          const archive = join(dir, "image.tar");
          await writeOciImageArchive(join(dir, "build"), {
            references: [reference],
            layer,
            config: {
              Cmd: ["sh", "-c", "cat marker; echo $GREETING; pwd"],
              Env: ["PATH=/bin", "GREETING=hello"],
              WorkingDir: "/work",
              User: "0:0",
            },
            platform: { os: "linux", architecture: "amd64" },
          }, archive);
          await $`skopeo copy --quiet ${`oci-archive:${archive}`} ${`docker-daemon:${reference}`}`;
        });
        equal(await docker("run", "--rm", reference), "carried-over\nhello\n/work");
        equal(await docker("image", "inspect", "--format", "{{.Config.User}}", reference), "0:0");
      } finally {
        await docker("image", "rm", "-f", reference).catch(() => {});
      }
    },
  );
} else {
  Deno.test({
    name: "OCI archive loads with skopeo [ignored: skopeo is not installed]",
    ignore: true,
    fn() {},
  });
}

Deno.test("sha256File() hashes a file as a stream", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "data");
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    await Deno.writeFile(path, data);
    equal(await sha256File(path), createHash("sha256").update(data).digest("hex"));
  });
});
