import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { pack as tarPack } from "tar-stream";
import { type TarHeader, TarWalk, TarWalkError } from "../../lib/_internal/tar_walk.ts";

const LONG = `${"deep/".repeat(40)}index.json`;

/** A tar written by tar-stream (ustar, with a pax header for the long name). */
async function packed(files: Record<string, string>, links: Record<string, string> = {}) {
  const pack = tarPack();
  for (const [name, text] of Object.entries(files)) pack.entry({ name }, text);
  for (const [name, target] of Object.entries(links)) {
    pack.entry({ name, type: "symlink", linkname: target });
  }
  pack.finalize();
  const chunks: Uint8Array[] = [];
  for await (const chunk of pack) chunks.push(chunk as Uint8Array);
  return new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
}

/** Walks `tar` in chunks of `size` bytes, wiping each chunk once `write` returns. */
function walk(tar: Uint8Array, size: number, wanted = (_: TarHeader) => true) {
  const seen: string[] = [];
  const data: Record<string, string> = {};
  const walker = new TarWalk({
    entry(header) {
      seen.push(`${header.type} ${header.name} ${header.size}`);
      return wanted(header);
    },
    data(header, bytes) {
      data[header.name] = new TextDecoder().decode(bytes);
    },
  });
  for (let at = 0; at < tar.byteLength; at += size) {
    const chunk = tar.slice(at, at + size);
    walker.write(chunk);
    chunk.fill(0xff); // the walk keeps no reference: what it collected must not change
  }
  return { seen, data, ended: walker.ended };
}

Deno.test("TarWalk reads entries and their data at any chunk size, keeping no chunk", async () => {
  const files = {
    "manifest.json": '[{"RepoTags":["a:1"]}]',
    [LONG]: "{}",
    "big": "x".repeat(3000),
  };
  const tar = await packed(files, { "link": "manifest.json" });
  for (const size of [1, 7, 511, 512, 513, 4096, tar.byteLength]) {
    const { seen, data, ended } = walk(tar, size);
    deepStrictEqual(seen, [
      "file manifest.json 22",
      `file ${LONG} 2`,
      "file big 3000",
      "symlink link 0",
    ], `chunks of ${size}`);
    deepStrictEqual(data, { ...files, link: "" }, `chunks of ${size}`);
    ok(ended, `the end blocks were seen with chunks of ${size}`);
  }
});

Deno.test("TarWalk collects only the entries asked for", async () => {
  const tar = await packed({ "a.json": "1", "b.bin": "2".repeat(1000) });
  const { data } = walk(tar, 100, (header) => header.name.endsWith(".json"));
  deepStrictEqual(data, { "a.json": "1" });
});

Deno.test("TarWalk reads GNU long names, as GNU tar writes them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "t", ...LONG.split("/").slice(0, -1)), { recursive: true });
    await Deno.writeTextFile(join(dir, "t", LONG), "{}");
    const out = await new Deno.Command("tar", {
      args: ["--format=gnu", "-cf", "-", "-C", join(dir, "t"), LONG],
      stdout: "piped",
    }).output();
    ok(out.success);
    const { data } = walk(out.stdout, 300);
    deepStrictEqual(data, { [LONG]: "{}" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TarWalk refuses what is not a tar", () => {
  const noise = new TextEncoder().encode("not a tar at all ".repeat(40));
  throws(() => new TarWalk({ entry: () => true, data: () => {} }).write(noise), TarWalkError);
  const { ended } = walk(new Uint8Array(1024), 100);
  equal(ended, true, "two zero blocks end an (empty) archive");
});
