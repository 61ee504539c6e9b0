// What an artifact names, read as it streams: every way a docker save tar or
// an OCI layout can name an image, each checked against the one name an
// import may bring.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { type Header, pack as tarPack } from "tar-stream";
import {
  type ArtifactImages,
  artifactNameProblem,
  ArtifactNamesReader,
  fullReference,
} from "../../lib/archive/artifact_names.ts";

const OWN = "bot-bottle-committed-dev-abc12:20261124T141500Z";
const CONFIG = "a".repeat(64);

async function tar(entries: { header: Partial<Header>; body?: string }[]): Promise<Uint8Array> {
  const pack = tarPack();
  const bytes = new Response(ReadableStream.from(pack as AsyncIterable<Uint8Array<ArrayBuffer>>))
    .arrayBuffer();
  for (const { header, body } of entries) {
    if (body === undefined) pack.entry(header as Header);
    else pack.entry(header as Header, body);
  }
  pack.finalize();
  return new Uint8Array(await bytes);
}

const file = (name: string, value: unknown) => ({
  header: { name },
  body: typeof value === "string" ? value : JSON.stringify(value),
});

/** Reads `bytes` in small chunks, as the archive reader hands them over. */
async function read(bytes: Uint8Array): Promise<ArtifactImages> {
  const reader = new ArtifactNamesReader();
  for (let at = 0; at < bytes.length; at += 300) {
    await reader.write(bytes.slice(at, at + 300));
  }
  return await reader.finish();
}

const dockerManifest = (...images: string[][]) =>
  file(
    "manifest.json",
    images.map((tags) => ({ Config: `${CONFIG}.json`, RepoTags: tags, Layers: ["x/layer.tar"] })),
  );
const layer = { header: { name: "x/layer.tar" }, body: "layer ".repeat(2000) };
const index = (...annotations: Record<string, string>[]) =>
  file("index.json", {
    schemaVersion: 2,
    manifests: annotations.map((each, n) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${String(n).repeat(64)}`,
      size: 10,
      annotations: each,
    })),
  });

Deno.test("a docker save of the bottle's own image may be loaded, and tells its image id", async () => {
  const images = await read(await tar([layer, dockerManifest([OWN])]));
  equal(artifactNameProblem(images, OWN), undefined);
  equal(images.configDigest, `sha256:${CONFIG}`);
  // The same image from an Engine 25 docker save (OCI layout and manifest.json).
  const both = await read(
    await tar([
      index({
        "io.containerd.image.name": `docker.io/library/${OWN}`,
        "org.opencontainers.image.ref.name": "20261124T141500Z",
      }),
      dockerManifest([OWN]),
      layer,
    ]),
  );
  equal(artifactNameProblem(both, OWN), undefined);
});

Deno.test("indexDigests are the top-level index.json descriptors' digests, in order, once each", async () => {
  const digest = (n: number) => `sha256:${String(n).repeat(64)}`;
  const entry = (n: number, mediaType = "application/vnd.oci.image.index.v1+json") => ({
    mediaType,
    digest: digest(n),
    size: 10,
    annotations: { "io.containerd.image.name": OWN },
  });
  const images = await read(
    await tar([
      file("index.json", { schemaVersion: 2, manifests: [entry(3), entry(1), entry(3)] }),
      // A nested index's descriptors are not the image's.
      file(`blobs/sha256/${"3".repeat(64)}`, {
        manifests: [entry(7, "application/vnd.oci.image.manifest.v1+json")],
      }),
    ]),
  );
  deepStrictEqual(images.indexDigests, [digest(3), digest(1)]);
  // A docker save tar without index.json has none.
  deepStrictEqual((await read(await tar([dockerManifest([OWN]), layer]))).indexDigests, []);
});

const REFUSED: [string, () => Promise<Uint8Array>, RegExp][] = [
  [
    "RepoTags naming another image too (the retag file)",
    () => tar([dockerManifest(["evil-img:1", "victim-base:latest"])]),
    /would name the images "evil-img:1", "victim-base:latest"/,
  ],
  [
    "the own name and a foreign one",
    () => tar([dockerManifest([OWN, "victim-base:latest"])]),
    /would name the image "victim-base:latest"/,
  ],
  ["two images", () => tar([dockerManifest([OWN], [OWN])]), /holds 2 images/],
  [
    "an index.json whose io.containerd.image.name is another image",
    () => tar([index({ "io.containerd.image.name": "docker.io/library/victim-base:latest" })]),
    /would name the image "docker\.io\/library\/victim-base:latest"/,
  ],
  [
    "an index.json whose ref.name is a foreign full reference",
    () =>
      tar([
        index({
          "io.containerd.image.name": OWN,
          "org.opencontainers.image.ref.name": "ghcr.io/x/victim:1",
        }),
      ]),
    /"ghcr\.io\/x\/victim:1"/,
  ],
  [
    "an index.json whose bare ref.name is another tag",
    () =>
      tar([
        index({ "io.containerd.image.name": OWN, "org.opencontainers.image.ref.name": "latest" }),
      ]),
    /"latest"/,
  ],
  [
    "an index.json listing two images",
    () => tar([index({ "io.containerd.image.name": OWN }, { "io.containerd.image.name": OWN })]),
    /holds 2 images/,
  ],
  [
    "a nested index blob naming another image",
    () =>
      tar([
        index({ "io.containerd.image.name": OWN }),
        file(`blobs/sha256/${"b".repeat(64)}`, {
          manifests: [{ annotations: { "io.containerd.image.name": "victim-base:latest" } }],
        }),
      ]),
    /"victim-base:latest"/,
  ],
  [
    "an index.json whose com.apple.containerization.image.name (read first by Apple's load) is another image",
    () =>
      tar([
        index({
          "com.apple.containerization.image.name": "victim-base:latest",
          "io.containerd.image.name": OWN,
        }),
      ]),
    /would name the image "victim-base:latest"/,
  ],
  [
    "a legacy repositories file naming another image",
    () => tar([dockerManifest([OWN]), file("repositories", { "victim-base": { latest: CONFIG } })]),
    /"victim-base:latest"/,
  ],
  [
    "two manifest.json entries",
    () => tar([dockerManifest([OWN]), file("./manifest.json", [{ RepoTags: ["victim:1"] }])]),
    /holds manifest\.json twice/,
  ],
  [
    "a manifest.json that is a symbolic link",
    () => tar([{ header: { name: "manifest.json", type: "symlink", linkname: "/etc/passwd" } }]),
    /its manifest\.json is a symlink/,
  ],
  ["no image name at all", () => tar([dockerManifest([])]), /names no image/],
  ["no manifest at all", () => tar([layer]), /neither a manifest\.json nor an index\.json/],
  [
    "bytes that are no tar",
    () => Promise.resolve(new TextEncoder().encode("not a tar ".repeat(200))),
    /not a readable image archive|neither a manifest/,
  ],
];

for (const [what, make, says] of REFUSED) {
  Deno.test(`an artifact with ${what} is refused`, async () => {
    const problem = artifactNameProblem(await read(await make()), OWN);
    ok(problem !== undefined, "not refused");
    match(problem, says);
  });
}

Deno.test("fullReference() compares names as engines do", () => {
  deepStrictEqual(
    ["x", "x:1", "library/x:1", "docker.io/x:1", "index.docker.io/library/x:1"].map(
      fullReference,
    ),
    [
      "docker.io/library/x:latest",
      "docker.io/library/x:1",
      "docker.io/library/x:1",
      "docker.io/library/x:1",
      "docker.io/library/x:1",
    ],
  );
  equal(fullReference("localhost:5000/x"), "localhost:5000/x:latest");
  equal(fullReference("ghcr.io/a/b:2"), "ghcr.io/a/b:2");
});
