// writeBottleArchive() and readBottleArchive(): round trips, streaming of a
// large artifact, and the refusals of damaged or hostile archives, each of
// which must leave nothing behind.

import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { zstdDecompressSync } from "node:zlib";
import { type Header, pack as tarPack } from "tar-stream";
import {
  ARCHIVE_FORMAT_VERSION,
  type ArchiveManifest,
  checksumName,
  type Compression,
  COMPRESSIONS,
  readBottleArchive,
  type WriteArchiveInput,
  writeBottleArchive,
} from "../../lib/archive/bottle_archive.ts";
import { BadInputError } from "../../lib/errors.ts";
import { sha256File } from "../../lib/archive/oci_image_layout.ts";
import { present } from "../_helpers/present.ts";

interface TempDir extends AsyncDisposable {
  path: string;
}

/** A temporary directory, removed when the test is done (`await using`). */
async function tempDir(): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: "bot-bottle-archive-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

const METADATA = JSON.stringify(
  { identity: "dev-abc12", backend: "docker", label: "dev" },
  null,
  2,
);
const RUN_CONFIG = JSON.stringify({ image: "bot-bottle-dev", env: ["A=1"] });

function manifestFields(): WriteArchiveInput["manifest"] {
  return {
    slug: "dev-abc12",
    backend: "docker",
    snapshot: {
      id: "20261124T141500Z",
      createdAt: "2026-11-24T14:15:00.000Z",
      parent: "20261120T090000Z",
      message: "before the refactor",
    },
    lineage: ["20261120T090000Z", "20261124T141500Z"],
    toolVersion: "0.1.0",
  };
}

/** Sets up `<dir>/in` (the archive's directory, holding the artifact) and `<dir>/into`. */
async function workspace(dir: string, artifact: Uint8Array) {
  const inDir = join(dir, "in");
  const into = join(dir, "into");
  await Deno.mkdir(inDir);
  await Deno.mkdir(into, { mode: 0o700 });
  const artifactPath = join(dir, "artifact.tar");
  await Deno.writeFile(artifactPath, artifact);
  return { inDir, into, artifactPath, archive: join(inDir, "dev-abc12.bottle") };
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

interface CraftedEntry {
  header: Partial<Header> & { name: string };
  body?: string | Uint8Array;
}

/** Packs `entries` with tar-stream as given, hostile or not, into an uncompressed tar. */
async function craftTar(entries: CraftedEntry[]): Promise<Uint8Array> {
  const pack = tarPack();
  const bytes = new Response(ReadableStream.from(pack as AsyncIterable<Uint8Array<ArrayBuffer>>))
    .arrayBuffer();
  for (const { header, body } of entries) {
    if (body === undefined) pack.entry({ ...header });
    else pack.entry({ ...header }, body);
  }
  pack.finalize();
  return new Uint8Array(await bytes);
}

/** A full snapshot's `snapshot` field. */
const FULL = {
  id: "20261124T141500Z",
  createdAt: "2026-11-24T14:15:00.000Z",
  parent: "20261120T090000Z",
  message: "before the refactor",
  mode: "full",
};

const ARTIFACT = new TextEncoder().encode("ARTIFACT-START " + "layer data ".repeat(400) + "END");

const ARTIFACT_SHA256 = createHash("sha256").update(ARTIFACT).digest("hex");

/**
 * A format-2 manifest (the artifact's SHA-256 in it) that matches
 * {@linkcode ARTIFACT}, with `changes` applied.
 */
function craftedManifest(changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    formatVersion: 2,
    ...manifestFields(),
    createdAt: "2026-11-25T10:00:00.000Z",
    artifact: {
      name: "artifact.docker.tar",
      sha256: ARTIFACT_SHA256,
      sizeBytes: ARTIFACT.byteLength,
    },
    hasRunConfig: false,
    ...changes,
  };
}

/** A format-4 manifest (no SHA-256: the checksum member gives it), with `changes` applied. */
function craftedManifest4(changes: Record<string, unknown> = {}): Record<string, unknown> {
  return craftedManifest({
    formatVersion: ARCHIVE_FORMAT_VERSION,
    artifact: { name: "artifact.docker.tar", sizeBytes: ARTIFACT.byteLength },
    ...changes,
  });
}

function member(name: string, body: string | Uint8Array): CraftedEntry {
  return { header: { name }, body };
}

/** Flips the bits `mask` of the byte at `at`, which must be in `bytes`. */
function flip(bytes: Uint8Array, at: number, mask: number): void {
  bytes.set([present(bytes[at], `a byte at ${at}`) ^ mask], at);
}

/** The members of a good archive of {@linkcode ARTIFACT}, in order. */
function goodMembers(
  manifest = craftedManifest(),
): [manifest: CraftedEntry, metadata: CraftedEntry, artifact: CraftedEntry] {
  return [
    member("manifest.json", JSON.stringify(manifest)),
    member("metadata.json", METADATA),
    member("artifact.docker.tar", ARTIFACT),
  ];
}

/** The members of a good format-4 archive of {@linkcode ARTIFACT}: the checksum after it. */
function goodMembers4(
  manifest = craftedManifest4(),
): [manifest: CraftedEntry, metadata: CraftedEntry, artifact: CraftedEntry, sum: CraftedEntry] {
  return [
    member("manifest.json", JSON.stringify(manifest)),
    member("metadata.json", METADATA),
    member("artifact.docker.tar", ARTIFACT),
    member("artifact.docker.tar.sha256", `${ARTIFACT_SHA256}  artifact.docker.tar\n`),
  ];
}

for (
  const [format, members] of [
    ["2", goodMembers()],
    ["3 (a full snapshot)", goodMembers(craftedManifest({ formatVersion: 3, snapshot: FULL }))],
    ["4", goodMembers4()],
    ["4 (a full snapshot)", goodMembers4(craftedManifest4({ snapshot: FULL }))],
    [
      "4, the checksum before the artifact",
      [...goodMembers4()].toSpliced(2, 2, ...goodMembers4().slice(2).reverse()),
    ],
  ] as const
) {
  Deno.test(`the crafted good archive of format ${format} is read, so the refusals below are each for their own flaw`, async () => {
    await using dir = await tempDir();
    const { inDir, into, archive } = await workspace(dir.path, ARTIFACT);
    await Deno.writeFile(archive, await gzip(await craftTar([...members])));
    const read = await readBottleArchive(archive, into);
    deepStrictEqual(await Deno.readFile(read.artifactPath), ARTIFACT);
    equal(read.manifest.artifact.sha256, ARTIFACT_SHA256);
    equal(read.metadataJson, METADATA);
    deepStrictEqual(await listDir(inDir), ["dev-abc12.bottle"]);
  });
}

/** The first bytes of an archive of each compression. */
const MAGIC: Record<Compression, number[]> = {
  zstd: [0x28, 0xb5, 0x2f, 0xfd],
  gzip: [0x1f, 0x8b],
  none: [...new TextEncoder().encode("manifest.json"), 0],
};

Deno.test("writeBottleArchive() writes a full snapshot as format 4 whatever the compression, and reads it back", async () => {
  for (const compression of COMPRESSIONS) {
    await using dir = await tempDir();
    const { into, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
    const fields = manifestFields();
    const written = await writeBottleArchive(archive, {
      manifest: { ...fields, snapshot: { ...fields.snapshot, mode: "full" } },
      metadataJson: METADATA,
      artifactPath,
      artifactName: "artifact.smolcheckpoint",
      compression,
    });
    equal(written.formatVersion, 4, compression);
    const read = await readBottleArchive(archive, into);
    deepStrictEqual([read.manifest.formatVersion, read.manifest.snapshot.mode], [4, "full"]);
  }
});

for (const compression of COMPRESSIONS) {
  Deno.test(`writeBottleArchive() then readBottleArchive() gives back every member as it was (${compression})`, async () => {
    await using dir = await tempDir();
    const { inDir, into, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
    const writeProgress: [number, number][] = [];
    const written = await writeBottleArchive(archive, {
      manifest: manifestFields(),
      metadataJson: METADATA,
      runConfigJson: RUN_CONFIG,
      artifactPath,
      artifactName: "artifact.docker.tar",
      onProgress: (done, total) => writeProgress.push([done, total]),
      compression,
    });

    equal(written.formatVersion, compression === "gzip" ? 1 : 4);
    equal(written.hasRunConfig, true);
    deepStrictEqual(written.artifact, {
      name: "artifact.docker.tar",
      sha256: createHash("sha256").update(ARTIFACT).digest("hex"),
      sizeBytes: ARTIFACT.byteLength,
    });
    ok(!Number.isNaN(Date.parse(written.createdAt)));
    deepStrictEqual(writeProgress.at(-1), [ARTIFACT.byteLength, ARTIFACT.byteLength]);

    equal((await Deno.stat(archive)).mode! & 0o777, 0o600);
    const head = (await Deno.readFile(archive)).subarray(0, MAGIC[compression].length);
    deepStrictEqual([...head], MAGIC[compression]);
    deepStrictEqual(await listDir(inDir), ["dev-abc12.bottle"]);

    const readProgress: [number, number][] = [];
    const read = await readBottleArchive(archive, into, (done, total) => {
      readProgress.push([done, total]);
    });
    deepStrictEqual(read.manifest, written);
    equal(read.metadataJson, METADATA);
    equal(read.runConfigJson, RUN_CONFIG);
    equal(read.artifactPath, join(into, "artifact.docker.tar"));
    deepStrictEqual(await Deno.readFile(read.artifactPath), ARTIFACT);
    equal((await Deno.stat(read.artifactPath)).mode! & 0o777, 0o600);
    deepStrictEqual(readProgress.at(-1), [ARTIFACT.byteLength, ARTIFACT.byteLength]);
    const done = readProgress.map(([done]) => done);
    deepStrictEqual(done, done.toSorted((a, b) => a - b), "the progress never goes back");
  });
}

Deno.test("the manifest is the first entry, the archive is flat, and a sha256sum line of the artifact ends it", async () => {
  await using dir = await tempDir();
  const { artifactPath, archive } = await workspace(dir.path, ARTIFACT);
  const written = await writeBottleArchive(archive, {
    manifest: manifestFields(),
    metadataJson: METADATA,
    artifactPath,
    artifactName: "artifact.docker.tar",
  });
  const tar = zstdDecompressSync(await Deno.readFile(archive));
  const members = new Map<string, Uint8Array>();
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const name = new TextDecoder().decode(header.subarray(0, 100)).replace(/\0.*$/s, "");
    const size = parseInt(new TextDecoder().decode(header.subarray(124, 136)), 8);
    members.set(name, tar.subarray(offset + 512, offset + 512 + size));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  deepStrictEqual([...members.keys()], [
    "manifest.json",
    "metadata.json",
    "artifact.docker.tar",
    "artifact.docker.tar.sha256",
  ]);
  const manifest = JSON.parse(new TextDecoder().decode(members.get("manifest.json")));
  deepStrictEqual(manifest.artifact, { name: "artifact.docker.tar", sizeBytes: ARTIFACT.length });
  equal(
    new TextDecoder().decode(members.get(checksumName("artifact.docker.tar"))),
    `${ARTIFACT_SHA256}  artifact.docker.tar\n`,
  );
  equal(written.artifact.sha256, ARTIFACT_SHA256);
});

Deno.test("a 64 MiB artifact goes through write and read as a stream, unchanged", async () => {
  await using dir = await tempDir();
  const { into, archive } = await workspace(dir.path, new Uint8Array());
  const artifactPath = join(dir.path, "big.tar");
  const size = 64 * 1024 * 1024;
  {
    using file = await Deno.open(artifactPath, { write: true, create: true });
    const chunk = new Uint8Array(1024 * 1024);
    for (let written = 0; written < size; written += chunk.length) {
      // Half random (so gzip has real work), half repeated.
      crypto.getRandomValues(chunk.subarray(0, 65536));
      chunk.fill(written / chunk.length, 65536);
      let offset = 0;
      while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
    }
  }
  let writeCalls = 0;
  let writeDone = 0;
  await writeBottleArchive(archive, {
    manifest: manifestFields(),
    metadataJson: METADATA,
    artifactPath,
    artifactName: "artifact.container.tar",
    onProgress: (done) => {
      writeCalls++;
      writeDone = done;
    },
  });
  ok(writeCalls > 10, `progress was reported ${writeCalls} times`);
  equal(writeDone, size);
  let readDone = 0;
  const read = await readBottleArchive(archive, into, (done) => {
    readDone = done;
  });
  equal(readDone, size);
  equal((await Deno.stat(read.artifactPath)).size, size);
  equal(await sha256File(read.artifactPath), await sha256File(artifactPath));
});

/** Archives whose every one readBottleArchive() must refuse, and the words it must use. */
const REFUSALS: {
  name: string;
  make: (good: Uint8Array, goodTar: Uint8Array) => Promise<Uint8Array> | Uint8Array;
  says: RegExp;
}[] = [
  {
    name: "a byte flipped in the artifact",
    make: (_good, goodTar) => {
      const tar = goodTar.slice();
      const at = indexOf(tar, new TextEncoder().encode("ARTIFACT-START")) + 20;
      flip(tar, at, 0x01);
      return gzip(tar);
    },
    says: /SHA-256 .* but the manifest says/,
  },
  {
    name: "a truncated file",
    make: (good) => good.subarray(0, Math.floor(good.length / 2)),
    says: /truncated/,
  },
  {
    name: "the last bytes cut off",
    make: (good) => good.subarray(0, good.length - 4),
    says: /truncated/,
  },
  {
    name: "a tar cut short inside a good gzip",
    make: (_good, goodTar) => gzip(goodTar.subarray(0, 512 * 5 + 100)),
    says: /ends in the middle of its tar data, so it is truncated/,
  },
  {
    name: "a manifest with a wrong sha256",
    make: async () => {
      const manifest = craftedManifest();
      manifest.artifact = { ...(manifest.artifact as object), sha256: "0".repeat(64) };
      return gzip(await craftTar(goodMembers(manifest)));
    },
    says: /SHA-256 [0-9a-f]{64}, but the manifest says 0{64}/,
  },
  {
    name: "a manifest with a wrong size",
    make: async () => {
      const manifest = craftedManifest();
      manifest.artifact = { ...(manifest.artifact as object), sizeBytes: 5 };
      return gzip(await craftTar(goodMembers(manifest)));
    },
    says: /is \d+ bytes, but the manifest says 5/,
  },
  {
    name: "an unknown formatVersion 99",
    make: async () => gzip(await craftTar(goodMembers(craftedManifest({ formatVersion: 99 })))),
    says: /format 99, but this bot-bottle reads only formats 1, 2, 3 and 4; .*newer bot-bottle/,
  },
  {
    name: "a full snapshot in a format-2 manifest",
    make: async () =>
      gzip(
        await craftTar(
          goodMembers(
            craftedManifest({ snapshot: { ...manifestFields().snapshot, mode: "full" } }),
          ),
        ),
      ),
    says:
      /formatVersion: must be 3 or 4 for a full snapshot \(snapshot\.mode "full"\), and 3 only for one/,
  },
  {
    name: "format 3 for a disk snapshot",
    make: async () => gzip(await craftTar(goodMembers(craftedManifest({ formatVersion: 3 })))),
    says: /formatVersion: must be 3 or 4 for a full snapshot/,
  },
  {
    name: "format 4 whose checksum member is missing",
    make: async () => gzip(await craftTar(goodMembers4().slice(0, 3))),
    says: /lacks "artifact\.docker\.tar\.sha256", which its manifest promises/,
  },
  {
    name: "format 4 whose artifact does not match its checksum member",
    make: async () => {
      const [manifest, metadata, , sum] = goodMembers4();
      const altered = ARTIFACT.slice();
      flip(altered, 20, 0x01);
      return gzip(
        await craftTar([manifest, metadata, member("artifact.docker.tar", altered), sum]),
      );
    },
    says:
      /SHA-256 [0-9a-f]{64}, but "artifact\.docker\.tar\.sha256" says [0-9a-f]{64}, so it was damaged or altered/,
  },
  {
    name: "format 4 whose checksum member names another file",
    make: async () => {
      const members = goodMembers4();
      members[3] = member("artifact.docker.tar.sha256", `${ARTIFACT_SHA256}  other.tar\n`);
      return gzip(await craftTar(members));
    },
    says: /its artifact\.docker\.tar\.sha256 is not the checksum line of "artifact\.docker\.tar"/,
  },
  {
    name: "format 4 whose checksum member holds two lines",
    make: async () => {
      const members = goodMembers4();
      const line = `${ARTIFACT_SHA256}  artifact.docker.tar\n`;
      members[3] = member("artifact.docker.tar.sha256", line + line);
      return gzip(await craftTar(members));
    },
    says: /is not the checksum line of "artifact\.docker\.tar"/,
  },
  {
    name: "format 4 whose checksum member is over 1 KiB",
    make: async () => {
      const members = goodMembers4();
      members[3] = member("artifact.docker.tar.sha256", "0".repeat(2048));
      return gzip(await craftTar(members));
    },
    says: /its artifact\.docker\.tar\.sha256 is 2048 bytes, over the limit of 1024/,
  },
  {
    name: "a format-4 manifest that holds the artifact's SHA-256",
    make: async () => gzip(await craftTar(goodMembers4(craftedManifest({ formatVersion: 4 })))),
    says:
      /artifact\.sha256: must hold the artifact's SHA-256 before format 4, and must not from format 4 on/,
  },
  {
    name: "a format-2 manifest without the artifact's SHA-256",
    make: async () => gzip(await craftTar(goodMembers(craftedManifest4({ formatVersion: 2 })))),
    says: /artifact\.sha256: must hold the artifact's SHA-256 before format 4/,
  },
  {
    name: "a checksum member in a format-2 archive",
    make: async () => gzip(await craftTar([...goodMembers(), goodMembers4()[3]])),
    says: /unexpected entry "artifact\.docker\.tar\.sha256"/,
  },
  {
    name: "a manifest that is not JSON",
    make: async () =>
      gzip(await craftTar([member("manifest.json", "{ not json"), ...goodMembers().slice(1)])),
    says: /manifest\.json is not JSON/,
  },
  {
    name: "a manifest of the wrong shape",
    make: async () => gzip(await craftTar(goodMembers(craftedManifest({ lineage: "x" })))),
    says: /manifest\.json is invalid \(lineage: /,
  },
  {
    name: "a manifest whose slug breaks the slug rule",
    make: async () => gzip(await craftTar(goodMembers(craftedManifest({ slug: "Dev ABC" })))),
    says: /slug: must be a bottle slug/,
  },
  {
    name: "an artifact name with a path",
    make: async () => {
      const manifest = craftedManifest();
      manifest.artifact = { ...(manifest.artifact as object), name: "../artifact.tar" };
      return gzip(await craftTar(goodMembers(manifest)));
    },
    says: /artifact\.name: /,
  },
  {
    name: "a ../evil entry",
    make: async () => {
      const [manifest, ...rest] = goodMembers();
      return gzip(await craftTar([manifest, member("../evil", "pwned"), ...rest]));
    },
    says: /an entry named "\.\.\/evil", a path/,
  },
  {
    name: "an entry whose name starts with -",
    make: async () => {
      const [manifest, ...rest] = goodMembers();
      return gzip(await craftTar([manifest, member("-rf", "x"), ...rest]));
    },
    says: /an entry named "-rf", which starts with '-'/,
  },
  {
    name: "an entry not among the expected names",
    make: async () => gzip(await craftTar([...goodMembers(), member("extra.txt", "x")])),
    says: /unexpected entry "extra\.txt"; expected "manifest\.json"/,
  },
  {
    name: "a run-config.json the manifest does not announce",
    make: async () => gzip(await craftTar([...goodMembers(), member("run-config.json", "{}")])),
    says: /unexpected entry "run-config\.json"/,
  },
  {
    name: "a symlink entry",
    make: async () => {
      const [manifest, metadata] = goodMembers();
      return gzip(
        await craftTar([manifest, metadata, {
          header: { name: "artifact.docker.tar", type: "symlink", linkname: "/etc/passwd" },
        }]),
      );
    },
    says: /entry "artifact\.docker\.tar" is a symlink/,
  },
  {
    name: "a directory entry",
    make: async () => {
      const [manifest, ...rest] = goodMembers();
      return gzip(
        await craftTar([manifest, { header: { name: "sub", type: "directory" } }, ...rest]),
      );
    },
    says: /entry "sub" is a directory/,
  },
  {
    name: "a hard link entry",
    make: async () => {
      const [manifest, metadata] = goodMembers();
      return gzip(
        await craftTar([manifest, metadata, {
          header: { name: "artifact.docker.tar", type: "link", linkname: "metadata.json" },
        }]),
      );
    },
    says: /entry "artifact\.docker\.tar" is a link/,
  },
  {
    name: "a missing artifact",
    make: async () => gzip(await craftTar(goodMembers().slice(0, 2))),
    says: /lacks "artifact\.docker\.tar"/,
  },
  {
    name: "a missing metadata.json",
    make: async () => {
      const [manifest, , artifact] = goodMembers();
      return gzip(await craftTar([manifest, artifact]));
    },
    says: /lacks "metadata\.json"/,
  },
  {
    name: "a duplicate entry",
    make: async () => {
      const [manifest, metadata, artifact] = goodMembers();
      return gzip(await craftTar([manifest, metadata, metadata, artifact]));
    },
    says: /has the entry "metadata\.json" twice/,
  },
  {
    name: "two manifest.json",
    make: async () => {
      const [manifest, metadata, artifact] = goodMembers();
      return gzip(await craftTar([manifest, metadata, manifest, artifact]));
    },
    says: /has the entry "manifest\.json" twice/,
  },
  {
    name: "a character device entry",
    make: async () => {
      const [manifest, metadata] = goodMembers();
      return gzip(
        await craftTar([manifest, metadata, {
          header: {
            name: "artifact.docker.tar",
            type: "character-device",
            devmajor: 1,
            devminor: 3,
          },
        }]),
      );
    },
    says: /entry "artifact\.docker\.tar" is a character-device/,
  },
  {
    name: "a duplicate artifact after a good one",
    make: async () => {
      const members = goodMembers();
      return gzip(await craftTar([...members, members[2]]));
    },
    says: /has the entry "artifact\.docker\.tar" twice/,
  },
  {
    name: "a manifest that is not first",
    make: async () => {
      const [manifest, metadata, artifact] = goodMembers();
      return gzip(await craftTar([metadata, manifest, artifact]));
    },
    says: /first entry is "metadata\.json", not "manifest\.json"/,
  },
  {
    name: "an empty tar",
    make: async () => gzip(await craftTar([])),
    says: /no entries/,
  },
  {
    name: "a metadata.json over 1 MiB",
    make: async () => {
      const [manifest, , artifact] = goodMembers();
      const big = JSON.stringify({ pad: "x".repeat(1024 * 1024) });
      return gzip(await craftTar([manifest, member("metadata.json", big), artifact]));
    },
    says: /metadata\.json is \d+ bytes, over the limit of 1048576/,
  },
  {
    name: "a metadata.json that is not JSON",
    make: async () => {
      const [manifest, , artifact] = goodMembers();
      return gzip(await craftTar([manifest, member("metadata.json", "nope"), artifact]));
    },
    says: /metadata\.json is not JSON/,
  },
  {
    name: "garbage after the tar",
    make: (_good, goodTar) =>
      gzip(new Uint8Array([...goodTar, ...new TextEncoder().encode("x".repeat(600))])),
    says: /tar data is corrupt/,
  },
  {
    name: "a file of other bytes (a zip)",
    make: () => new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...new Uint8Array(60)]),
    says: /is not a bot-bottle archive: it is neither zstd- nor gzip-compressed, nor a tar/,
  },
  {
    name: "a tar whose first entry is not manifest.json, uncompressed",
    make: () => {
      const [manifest, metadata, artifact] = goodMembers();
      return craftTar([metadata, manifest, artifact]);
    },
    says: /is not a bot-bottle archive: it is neither zstd- nor gzip-compressed, nor a tar/,
  },
  {
    name: "an empty file",
    make: () => new Uint8Array(),
    says: /is not a bot-bottle archive/,
  },
  {
    name: "a gzip checksum that does not match",
    make: (good) => {
      const bytes = good.slice();
      flip(bytes, bytes.length - 6, 0xff); // in the CRC-32 of the gzip trailer
      return bytes;
    },
    says: /compressed data is truncated or corrupt/,
  },
  {
    name: "a corrupt gzip header",
    make: (good) => {
      const bytes = good.slice();
      bytes[2] = 0x07; // the compression method: only 8 (deflate) exists
      return bytes;
    },
    says: /compressed data is truncated or corrupt/,
  },
];

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("needle not found");
}

for (const refusal of REFUSALS) {
  Deno.test(`readBottleArchive() refuses ${refusal.name} and leaves nothing behind`, async () => {
    await using dir = await tempDir();
    const { inDir, into, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
    await writeBottleArchive(archive, {
      manifest: manifestFields(),
      metadataJson: METADATA,
      artifactPath,
      artifactName: "artifact.docker.tar",
      compression: "gzip",
    });
    const good = await Deno.readFile(archive);
    const bad = join(inDir, "bad.bottle");
    await Deno.writeFile(bad, await refusal.make(good, await gunzip(good)));

    await rejects(readBottleArchive(bad, into), (error) => {
      ok(error instanceof BadInputError, `not a BadInputError: ${error}`);
      ok(error.message.startsWith(bad), error.message);
      ok(refusal.says.test(error.message), error.message);
      return true;
    });
    deepStrictEqual(await listDir(into), []);
    deepStrictEqual(await listDir(inDir), ["bad.bottle", "dev-abc12.bottle"]);
  });
}

Deno.test("readBottleArchive() refuses a file that does not exist", async () => {
  await using dir = await tempDir();
  await rejects(
    readBottleArchive(join(dir.path, "nope.bottle"), dir.path),
    (error) => error instanceof BadInputError && /nope\.bottle/.test(error.message),
  );
});

Deno.test("writeBottleArchive() refuses an existing out and leaves it as it was", async () => {
  await using dir = await tempDir();
  const { inDir, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
  await Deno.writeTextFile(archive, "precious");
  await rejects(
    writeBottleArchive(archive, {
      manifest: manifestFields(),
      metadataJson: METADATA,
      artifactPath,
      artifactName: "artifact.docker.tar",
    }),
    (error) =>
      error instanceof BadInputError &&
      /already exists.*another -o or remove it/.test(error.message),
  );
  equal(await Deno.readTextFile(archive), "precious");
  deepStrictEqual(await listDir(inDir), ["dev-abc12.bottle"]);
});

Deno.test("writeBottleArchive() with a missing artifact writes nothing, not even a temp file", async () => {
  await using dir = await tempDir();
  const { inDir, archive } = await workspace(dir.path, ARTIFACT);
  await rejects(
    writeBottleArchive(archive, {
      manifest: manifestFields(),
      metadataJson: METADATA,
      artifactPath: join(dir.path, "gone.tar"),
      artifactName: "artifact.docker.tar",
    }),
    (error) => error instanceof BadInputError && /gone\.tar/.test(error.message),
  );
  deepStrictEqual(await listDir(inDir), []);
});

Deno.test("writeBottleArchive() refuses an artifact that grows while it is archived", async () => {
  await using dir = await tempDir();
  const { inDir, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
  await rejects(
    writeBottleArchive(archive, {
      manifest: manifestFields(),
      metadataJson: METADATA,
      artifactPath,
      artifactName: "artifact.docker.tar",
      onProgress: (done) => {
        // After hashing, before copying: as a backend still writing the file would.
        if (done === 0) {
          Deno.writeFileSync(artifactPath, ARTIFACT.subarray(0, 10), { append: true });
        }
      },
    }),
    (error) =>
      error instanceof BadInputError && /changed while it was being archived/.test(error.message),
  );
  deepStrictEqual(await listDir(inDir), []);
});

Deno.test("writeBottleArchive() refuses an out whose directory does not exist", async () => {
  await using dir = await tempDir();
  const { artifactPath } = await workspace(dir.path, ARTIFACT);
  await rejects(
    writeBottleArchive(join(dir.path, "no-such-dir", "x.bottle"), {
      manifest: manifestFields(),
      metadataJson: METADATA,
      artifactPath,
      artifactName: "artifact.docker.tar",
    }),
    (error) => error instanceof BadInputError && /no-such-dir does not exist/.test(error.message),
  );
});

Deno.test("writeBottleArchive() refuses an invalid manifest, metadata or artifact name", async () => {
  await using dir = await tempDir();
  const { inDir, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
  const base: WriteArchiveInput = {
    manifest: manifestFields(),
    metadataJson: METADATA,
    artifactPath,
    artifactName: "artifact.docker.tar",
  };
  const cases: [Partial<WriteArchiveInput>, RegExp][] = [
    [{ manifest: { ...manifestFields(), slug: "Not A Slug" } }, /slug: must be a bottle slug/],
    [{ manifest: { ...manifestFields(), lineage: ["20261120T090000Z"] } }, /lineage: must end/],
    [{ artifactName: "../x.tar" }, /artifact\.name: /],
    [{ artifactName: "-x.tar" }, /artifact\.name: /],
    [{ artifactName: "metadata.json" }, /artifact\.name: must not be a name the archive reserves/],
    [{ metadataJson: "{" }, /metadata\.json: it is not JSON/],
    [{ runConfigJson: "x".repeat(1024 * 1024 + 1) }, /run-config\.json: it is 1048577 bytes/],
  ];
  for (const [change, says] of cases) {
    await rejects(
      writeBottleArchive(archive, { ...base, ...change }),
      (error) => error instanceof BadInputError && says.test(error.message),
      `${JSON.stringify(change).slice(0, 80)} should be refused with ${says}`,
    );
  }
  deepStrictEqual(await listDir(inDir), []);
});

Deno.test("an abort during writeBottleArchive() throws its reason and leaves no file", async () => {
  await using dir = await tempDir();
  const { inDir, artifactPath, archive } = await workspace(
    dir.path,
    new Uint8Array(4 * 1024 * 1024),
  );
  const controller = new AbortController();
  const reason = new Error("interrupted for the test");
  await rejects(
    writeBottleArchive(archive, {
      manifest: manifestFields(),
      metadataJson: METADATA,
      artifactPath,
      artifactName: "artifact.docker.tar",
      signal: controller.signal,
      onProgress: (done) => {
        if (done > 1024 * 1024) controller.abort(reason);
      },
    }),
    (error) => error === reason,
  );
  deepStrictEqual(await listDir(inDir), []);
});

Deno.test("an abort during readBottleArchive() throws its reason and leaves into empty", async () => {
  await using dir = await tempDir();
  const { into, artifactPath, archive } = await workspace(dir.path, new Uint8Array(4 << 20));
  await writeBottleArchive(archive, {
    manifest: manifestFields(),
    metadataJson: METADATA,
    artifactPath,
    artifactName: "artifact.docker.tar",
  });
  const controller = new AbortController();
  const reason = new Error("interrupted for the test");
  await rejects(
    readBottleArchive(archive, into, (done) => {
      if (done > 1024 * 1024) controller.abort(reason);
    }, controller.signal),
    (error) => error === reason,
  );
  deepStrictEqual(await listDir(into), []);
});

Deno.test("readBottleArchive() returns manifest fields typed as ArchiveManifest", async () => {
  await using dir = await tempDir();
  const { into, archive } = await workspace(dir.path, ARTIFACT);
  await Deno.writeFile(archive, await gzip(await craftTar(goodMembers())));
  const { manifest }: { manifest: ArchiveManifest } = await readBottleArchive(archive, into);
  deepStrictEqual(manifest, craftedManifest());
  equal(manifest.snapshot.parent, "20261120T090000Z");
});

Deno.test("writeBottleArchive() refuses an artifact that is a symbolic link, never archiving its target", async () => {
  await using dir = await tempDir();
  const { inDir, archive } = await workspace(dir.path, ARTIFACT);
  const secret = join(dir.path, "id_ed25519");
  await Deno.writeTextFile(secret, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
  const link = join(dir.path, "snapshot.smolmachine");
  await Deno.symlink(secret, link);
  await rejects(
    writeBottleArchive(archive, {
      manifest: manifestFields(),
      metadataJson: METADATA,
      artifactPath: link,
      artifactName: "artifact.smolmachine",
    }),
    (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `the artifact ${link} is not a regular file (it is a symbolic link, which bot-bottle ` +
          `does not follow); nothing was written`,
      );
      return true;
    },
  );
  deepStrictEqual(await listDir(inDir), []);
});

for (const compression of ["zstd", "none"] as const) {
  for (const cut of [0.5, 0.9]) {
    Deno.test(`readBottleArchive() refuses a ${compression} archive cut at ${cut * 100}% and leaves nothing behind`, async () => {
      await using dir = await tempDir();
      const { inDir, into, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
      await writeBottleArchive(archive, {
        manifest: manifestFields(),
        metadataJson: METADATA,
        artifactPath,
        artifactName: "artifact.docker.tar",
        compression,
      });
      const good = await Deno.readFile(archive);
      const bad = join(inDir, "bad.bottle");
      await Deno.writeFile(bad, good.subarray(0, Math.floor(good.length * cut)));
      await rejects(readBottleArchive(bad, into), (error) => {
        ok(error instanceof BadInputError, `not a BadInputError: ${error}`);
        ok(/truncated/.test(error.message), error.message);
        return true;
      });
      deepStrictEqual(await listDir(into), []);
    });
  }
}

Deno.test("readBottleArchive() refuses a zstd archive with a byte flipped in its compressed data", async () => {
  await using dir = await tempDir();
  const { inDir, into, artifactPath, archive } = await workspace(dir.path, ARTIFACT);
  await writeBottleArchive(archive, {
    manifest: manifestFields(),
    metadataJson: METADATA,
    artifactPath,
    artifactName: "artifact.docker.tar",
  });
  const bytes = await Deno.readFile(archive);
  flip(bytes, Math.floor(bytes.length / 2), 0xff);
  const bad = join(inDir, "bad.bottle");
  await Deno.writeFile(bad, bytes);
  await rejects(readBottleArchive(bad, into), (error) => {
    ok(error instanceof BadInputError, `not a BadInputError: ${error}`);
    ok(/corrupt|truncated|SHA-256/.test(error.message), error.message);
    return true;
  });
  deepStrictEqual(await listDir(into), []);
});

Deno.test("a format-1 archive written by bot-bottle 0.1.0 (gzip) is still read", async () => {
  // tests/_fixtures/format1.bottle was written by writeBottleArchive() as of ca16894, before
  // format 2: a one-file scratch Docker image (docker import, then docker save).
  await using dir = await tempDir();
  const read = await readBottleArchive(
    new URL("../_fixtures/format1.bottle", import.meta.url).pathname,
    dir.path,
  );
  equal(read.manifest.formatVersion, 1);
  equal(read.manifest.slug, "fmtone");
  equal(read.manifest.artifact.name, "artifact.docker.tar");
  equal(await sha256File(read.artifactPath), read.manifest.artifact.sha256);
  equal(
    read.manifest.artifact.sha256,
    "0ded5d6ff954af92c51c60513e3648ba2bd771dc9284b48d00c766597f92ee06",
  );
  equal(JSON.parse(read.metadataJson).identity, "fmtone");
});

Deno.test("a format-2 archive written by the previous bot-bottle (zstd, its SHA-256 in the manifest) is still read", async () => {
  // tests/_fixtures/format2.bottle: the artifact of format1.bottle archived again by the export
  // code of 329a54e, the last to write format 2.
  await using dir = await tempDir();
  const read = await readBottleArchive(
    new URL("../_fixtures/format2.bottle", import.meta.url).pathname,
    dir.path,
  );
  equal(read.manifest.formatVersion, 2);
  equal(read.manifest.slug, "fmtone");
  equal(await sha256File(read.artifactPath), read.manifest.artifact.sha256);
  equal(
    read.manifest.artifact.sha256,
    "0ded5d6ff954af92c51c60513e3648ba2bd771dc9284b48d00c766597f92ee06",
  );
});
