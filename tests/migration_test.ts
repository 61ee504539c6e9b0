// export and import through the CLI: a bottle frozen "here" resumed "there"
// from one file, on a real Docker engine and on the doubles; damaged files
// refused with nothing written.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_helpers/cli.ts";
import { cliBottle, docker, dockerTest, removeBottleObjects, testSlug } from "./_helpers/docker.ts";
import { snapshotTree, tempHome } from "./_helpers/temp_home.ts";
import { installDoubles } from "./_doubles/harness.ts";
import { defaultSmolvmWorld } from "./_doubles/smolvm_world.ts";
import { writeBottleArchive } from "../lib/archive/bottle_archive.ts";
import { withTempDir } from "../lib/temp_dir.ts";
import { present } from "./_helpers/present.ts";

dockerTest("export, destroy everything, import, resume: the marker comes back", async () => {
  await using here = await tempHome();
  await using there = await tempHome();
  await using bottle = await cliBottle(testSlug("mig"), here.env);
  const label = bottle.slug;
  try {
    await docker("exec", `bot-bottle-${label}`, "sh", "-c", "echo travelled > /marker");
    equal((await runCli(["commit", label, "-m", "before the move"], here.env)).code, 0);
    const file = join(here.home, "moving.bottle");
    const exported = await runCli(["export", label, "-o", file], here.env);
    equal(exported.code, 0, exported.stderr);
    match(exported.stderr, new RegExp(`on the other machine: bot-bottle import ${file}\n`));
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    // Exporting again never overwrites.
    const again = await runCli(["export", label, "-o", file], here.env);
    equal(again.code, 1);
    match(again.stderr, /already exists/);

    // Everything goes, the image included: "there" is another machine.
    equal((await runCli(["destroy", label, "--yes"], here.env)).code, 0);
    equal(await docker("images", "-q", `bot-bottle-committed-${label}`), "");

    const imported = await runCli(["import", file], there.env);
    equal(imported.code, 0, imported.stderr);
    match(imported.stderr, new RegExp(`to resume it: bot-bottle resume ${label}\n`));
    const rows = JSON.parse((await runCli(["snapshots", label, "--json"], there.env)).stdout);
    equal(rows.length, 1);
    equal(rows[0].message, "before the move");
    const resumed = await runCli(["resume", label], there.env);
    equal(resumed.code, 0, resumed.stderr);
    equal(await docker("exec", `bot-bottle-${label}`, "cat", "/marker"), "travelled");

    // The same slug again is refused; --name imports a second bottle.
    const twice = await runCli(["import", file], there.env);
    equal(twice.code, 1);
    match(twice.stderr, new RegExp(`a bottle "${label}" already exists here .*--name.*--force`));
    const renamed = await runCli(["import", file, "--name", `${label}-b`, "--json"], there.env);
    equal(renamed.code, 0, renamed.stderr);
    equal(JSON.parse(renamed.stdout).slug, `${label}-b`);
    equal(
      await docker("run", "--rm", `bot-bottle-committed-${label}-b:latest`, "cat", "/marker"),
      "travelled",
    );
  } finally {
    await removeBottleObjects(`${label}-b`);
  }
});

dockerTest("a damaged export is refused with nothing written, here or in the engine", async () => {
  await using home = await tempHome();
  await using bottle = await cliBottle(testSlug("dmg"), home.env);
  const label = bottle.slug;
  equal((await runCli(["commit", label], home.env)).code, 0);
  const good = join(home.home, "good.bottle");
  equal((await runCli(["export", label, "-o", good], home.env)).code, 0);
  equal((await runCli(["destroy", label, "--yes"], home.env)).code, 0);
  const bytes = await Deno.readFile(good);
  const damaged: [string, Uint8Array, RegExp][] = [
    ["truncated", bytes.slice(0, Math.floor(bytes.length / 2)), /truncated|corrupt/],
    ["flipped", flip(bytes, Math.floor(bytes.length / 2)), /corrupt|SHA-256|damaged/],
    ["not an archive", new TextEncoder().encode("just text\n"), /is not a bot-bottle archive/],
  ];
  const before = await snapshotTree(home.root);
  for (const [what, content, message] of damaged) {
    const file = join(home.home, `${what.replace(" ", "-")}.bottle`);
    await Deno.writeFile(file, content);
    const run = await runCli(["import", file], home.env);
    equal(run.code, 1, `${what}: ${run.stderr}`);
    match(run.stderr, message, what);
    deepStrictEqual(await snapshotTree(home.root), before, what);
    equal(await docker("images", "-q", `bot-bottle-committed-${label}`), "", what);
  }
});

dockerTest(
  "a format-1 archive written by bot-bottle 0.1 imports, and exports again in every compression",
  async () => {
    // tests/_fixtures/format1.bottle: gzip, written by the export code of ca16894; its artifact is
    // the docker save of a scratch image holding /hello.txt.
    const fixture = new URL("./_fixtures/format1.bottle", import.meta.url).pathname;
    await using home = await tempHome();
    const slug = testSlug("fmt");
    try {
      const imported = await runCli(["import", fixture, "--name", slug, "--json"], home.env);
      equal(imported.code, 0, imported.stderr);
      equal(JSON.parse(imported.stdout).snapshotId, "20261124T141500Z");
      const container = (await docker("create", `bot-bottle-committed-${slug}:latest`, "x")).trim();
      try {
        const tar = join(home.home, "hello.tar");
        await docker("cp", `${container}:/hello.txt`, tar);
        match(await Deno.readTextFile(tar), /made by bot-bottle 0\.1\.0, archive format 1/);
      } finally {
        await docker("rm", container);
      }
      const magic: Record<string, number[]> = {
        zstd: [0x28, 0xb5, 0x2f, 0xfd],
        gzip: [0x1f, 0x8b],
        none: [...new TextEncoder().encode("manifest.json")],
      };
      for (const [compression, head] of Object.entries(magic)) {
        const file = join(home.home, `${compression}.bottle`);
        const run = await runCli(
          ["export", slug, "-o", file, "--compression", compression],
          home.env,
        );
        equal(run.code, 0, run.stderr);
        deepStrictEqual(
          [...(await Deno.readFile(file)).subarray(0, head.length)],
          head,
          compression,
        );
        const again = await runCli(["import", file, "--name", `${slug}-${compression}`], home.env);
        equal(again.code, 0, again.stderr);
      }
      const before = await snapshotTree(home.root);
      const bad = await runCli(
        ["export", slug, "-o", join(home.home, "x"), "--compression", "xz"],
        home.env,
      );
      equal(bad.code, 2, bad.stderr);
      equal(bad.stderr, 'bot-bottle: error: --compression takes zstd, gzip or none, not "xz"\n');
      deepStrictEqual(await snapshotTree(home.root), before);
    } finally {
      for (const name of [slug, ...["zstd", "gzip", "none"].map((c) => `${slug}-${c}`)]) {
        await removeBottleObjects(name);
      }
    }
  },
);

Deno.test("macos-container and smolmachines bottles move by export and import through the doubles", async () => {
  for (const backend of ["macos-container", "smolmachines"]) {
    await using doubles = await installDoubles({
      container: {
        version: "1.2.1",
        serviceRunning: true,
        containers: [],
        calls: [],
        images: [{
          reference: "docker.io/library/debian:bookworm",
          files: { "etc/debian_version": "12\n" },
          config: { Cmd: ["sleep", "infinity"] },
          platform: { os: "linux", architecture: "arm64" },
        }],
      },
    });
    await using here = await tempHome();
    await using there = await tempHome();
    const cli = (home: { env: Record<string, string> }, ...args: string[]) =>
      runCli(args, { ...home.env, ...doubles.env });
    const started = await cli(
      here,
      "start",
      "--backend",
      backend,
      "--image",
      "debian:bookworm",
      "--name",
      "mover",
    );
    equal(started.code, 0, started.stderr);
    if (backend === "smolmachines") {
      await doubles.smolvm.update((world) => {
        present(world.machines[0]).files["work/notes.txt"] = "moved\n";
      });
    } else {
      await doubles.container.update((world) => {
        present(world.containers[0]).files["work/notes.txt"] = "moved\n";
      });
    }
    equal((await cli(here, "commit", "mover", "--yes")).code, 0);
    const file = join(here.home, "mover.bottle");
    const exported = await cli(here, "export", "mover", "-o", file);
    equal(exported.code, 0, `${backend}: ${exported.stderr}`);
    equal((await cli(here, "destroy", "mover", "--yes")).code, 0);

    const imported = await cli(there, "import", file);
    equal(imported.code, 0, `${backend}: ${imported.stderr}`);
    const resumed = await cli(there, "resume", "mover");
    equal(resumed.code, 0, `${backend}: ${resumed.stderr}`);
    const files = backend === "smolmachines"
      ? present((await doubles.smolvm.read()).machines[0]).files
      : present((await doubles.container.read()).containers[0]).files;
    equal(files["work/notes.txt"], "moved\n", backend);
  }
});

Deno.test("import refuses a smolvm snapshot made on another CPU, writing nothing", async () => {
  await using home = await tempHome();
  await using doubles = await installDoubles({ smolvm: defaultSmolvmWorld() });
  await withTempDir(async (dir) => {
    const artifact = join(dir, "artifact.smolmachine");
    await Deno.writeTextFile(artifact, "not really a machine");
    const file = join(home.home, "foreign.bottle");
    const other = Deno.build.arch === "x86_64" ? "aarch64" : "x86_64";
    await writeBottleArchive(file, {
      manifest: {
        slug: "foreign-a1b2c",
        backend: "smolmachines",
        snapshot: {
          id: "20261124T141500Z",
          createdAt: "2026-11-24T14:15:00Z",
          parent: null,
          message: null,
        },
        lineage: ["20261124T141500Z"],
        toolVersion: "0.1.0",
        platform: { os: "linux", arch: other },
      },
      metadataJson: JSON.stringify({ identity: "foreign-a1b2c", backend: "smolmachines" }),
      artifactPath: artifact,
      artifactName: "artifact.smolmachine",
    });
    const run = await runCli(["import", file], { ...home.env, ...doubles.env });
    equal(run.code, 1);
    match(run.stderr, new RegExp(`made on ${other}, and this machine is ${Deno.build.arch}`));
    deepStrictEqual(await snapshotTree(home.root), {});
    deepStrictEqual((await doubles.smolvm.read()).calls, []);
  });
});

Deno.test("export of a bottle without snapshots, or of an unknown one, says what to do", async () => {
  await using home = await tempHome();
  await home.writeBottle("bare-q1w2e");
  const none = await runCli(["export", "bare-q1w2e"], home.env);
  equal(none.code, 1);
  match(none.stderr, /has no snapshot to export; commit it first/);
  const at = await runCli(["export", "bare-q1w2e", "--at", "~3"], home.env);
  equal(at.code, 1);
  const missing = await runCli(["import", join(home.home, "nope.bottle")], home.env);
  equal(missing.code, 1);
  match(missing.stderr, /cannot read the archive .*nope\.bottle/);
  ok(
    !(await Deno.stat(join(home.root, "state", "bare-q1w2e", "snapshots.json")).catch(() => false)),
  );
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const copy = bytes.slice();
  copy.set([present(copy[at]) ^ 0xff], at);
  return copy;
}
