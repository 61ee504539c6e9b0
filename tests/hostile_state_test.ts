// Hostile state directories and registries, end to end: the CLI as a user
// runs it, against real files in a temporary HOME.

import { deepStrictEqual, equal, match, rejects } from "node:assert/strict";
import { join } from "node:path";
import { writeBottleArchive } from "../lib/archive/bottle_archive.ts";
import { BadInputError } from "../lib/errors.ts";
import { importBottle } from "../lib/ops/import.ts";
import { runCli } from "./_helpers/cli.ts";
import { cliBottle, dockerTest, removeBottleObjects, testSlug } from "./_helpers/docker.ts";
import { launcherMetadata, snapshotTree, tempHome } from "./_helpers/temp_home.ts";

const COMMANDS_THAT_READ_STATE: [string, ...string[]][] = [
  ["commit"],
  ["resume"],
  ["snapshots"],
  ["export"],
  ["prune"],
  ["destroy", "--yes"],
];

Deno.test("every command refuses a bottle whose state directory links to another bottle, touching nothing", async () => {
  await using home = await tempHome();
  const other = await home.writeBottle("other-1");
  await Deno.writeTextFile(join(other, "committed-image"), "bot-bottle-committed-other-1:x\n");
  await Deno.symlink(other, home.stateDir("dev-abc12"));
  const before = await snapshotTree(home.home);
  for (const [command, ...flags] of COMMANDS_THAT_READ_STATE) {
    const run = await runCli([command, "dev-abc12", ...flags], home.env);
    equal(run.code, 1, `${command}: ${run.stderr}`);
    // Commands that lock the bottle meet the link at the lock, the others at the state.
    match(
      run.stderr,
      new RegExp(
        `^bot-bottle: error: [^\\n]*${escape(home.stateDir("dev-abc12"))}[^\\n]* is a ` +
          `(symbolic link|symlink)[^\\n]* bot-bottle does not follow it[;:] replace [^\\n]*\\n$`,
      ),
      command,
    );
    equal(run.stdout, "", command);
  }
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("commit refuses a bottle whose state directory links to /etc", async () => {
  await using home = await tempHome();
  await Deno.mkdir(join(home.root, "state"), { recursive: true });
  await Deno.symlink("/etc", home.stateDir("etc-1"));
  const run = await runCli(["commit", "etc-1"], home.env);
  equal(run.code, 1);
  match(
    run.stderr,
    /^bot-bottle: error: .*\/state\/etc-1.* is a (symbolic link|symlink)\b.* bot-bottle does not follow it/,
  );
  // The read-only command meets the link at the state, and names its target.
  const snapshots = await runCli(["snapshots", "etc-1"], home.env);
  equal(snapshots.code, 1);
  equal(
    snapshots.stderr,
    `bot-bottle: error: the state directory of bottle "etc-1", ${home.stateDir("etc-1")}, is a ` +
      `symbolic link to /etc, and bot-bottle does not follow it; replace the link with the ` +
      `bottle's own directory, or remove the link\n`,
  );
});

Deno.test("commit refuses a symbolic-linked metadata.json and leaves its target as it was", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle("dev-abc12");
  const target = join(home.home, "elsewhere.json");
  await Deno.writeTextFile(target, JSON.stringify(launcherMetadata("dev-abc12")));
  await Deno.remove(join(dir, "metadata.json"));
  await Deno.symlink(target, join(dir, "metadata.json"));
  const before = await snapshotTree(home.home);
  const run = await runCli(["commit", "dev-abc12"], home.env);
  equal(run.code, 1);
  match(
    run.stderr,
    /^bot-bottle: error: .*\/metadata\.json is a symbolic link to .*\/elsewhere\.json, and bot-bottle does not follow links in a state directory; replace the link with the file itself, or restore the file\n$/,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("ls lists every bottle, showing a linked or hostile one as unknown with its problem", async () => {
  await using home = await tempHome();
  await home.writeBottle("good-1");
  await Deno.symlink("/etc", home.stateDir("etc-1"));
  await home.writeBottle("deep-1", undefined, "[".repeat(100_000) + "]".repeat(100_000));
  const json = await runCli(["ls", "--json"], home.env);
  equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as { slug: string; state: string; problem: string }[];
  deepStrictEqual(rows.map((row) => row.slug), ["deep-1", "etc-1", "good-1"]);
  equal(rows[0]?.state, "unknown");
  match(rows[0]?.problem, /metadata\.json nests arrays or objects more than 64 levels deep/);
  equal(rows[1]?.state, "unknown");
  match(rows[1]?.problem, /is a symbolic link to \/etc, and bot-bottle does not follow it/);
  const table = await runCli(["ls"], home.env);
  equal(table.code, 0, table.stderr);
  match(table.stdout, /^etc-1 +- +unknown /m);
  match(table.stdout, /^good-1 +docker /m);
  match(
    table.stderr,
    /^etc-1: the state directory of bottle "etc-1", .* is a symbolic link to \/etc,/m,
  );
});

Deno.test("a group-writable BOT_BOTTLE_REGISTRY stops every command, saying how to fix it", async () => {
  await using home = await tempHome();
  const registry = join(home.home, "registry.json");
  await Deno.writeTextFile(registry, "{}");
  await Deno.chmod(registry, 0o664);
  const run = await runCli(["ls"], { ...home.env, BOT_BOTTLE_REGISTRY: registry });
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: the registry ${registry} (from BOT_BOTTLE_REGISTRY) is writable by ` +
      `group or others (mode 0664), so they could choose the commands bot-bottle runs; run ` +
      `"chmod go-w ${registry}", or unset BOT_BOTTLE_REGISTRY to use the built-in registry\n`,
  );
});

Deno.test("import refuses an archive whose metadata.json nests 400000 levels deep, writing nothing", async () => {
  await using home = await tempHome();
  const artifact = join(home.home, "artifact.tar");
  await Deno.writeTextFile(artifact, "not really an image");
  const archive = join(home.home, "deep.bottle");
  await writeBottleArchive(archive, {
    manifest: {
      slug: "deep-1",
      backend: "docker",
      snapshot: {
        id: "20261124T141500Z",
        createdAt: "2026-11-24T14:15:00Z",
        parent: null,
        message: null,
      },
      lineage: ["20261124T141500Z"],
      toolVersion: "0.1.0",
    },
    // Under the archive's 1 MiB limit for JSON members; writing it back would overflow the stack.
    metadataJson: `{"identity": "deep-1", "deep": ${"[".repeat(400_000)}${"]".repeat(400_000)}}`,
    artifactPath: artifact,
    artifactName: "artifact.docker.tar",
  });
  await rejects(importBottle(archive, { root: home.root }), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(
      error.message,
      `${archive} holds an invalid metadata.json (arrays or objects nest more than 64 levels deep)`,
    );
    return true;
  });
  deepStrictEqual(await snapshotTree(home.root), {});
});

/** Every file and directory under `dir`, relative, with its permission bits. */
async function modes(dir: string, prefix = ""): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    const mode = ((await Deno.lstat(path)).mode! & 0o777).toString(8);
    found[`${prefix}${entry.name}${entry.isDirectory ? "/" : ""}`] = mode;
    if (entry.isDirectory) Object.assign(found, await modes(path, `${prefix}${entry.name}/`));
  }
  return found;
}

dockerTest("start, commit and import create state directories 0700 and files 0600", async () => {
  await using home = await tempHome();
  const slug = testSlug("m");
  const copy = testSlug("c");
  try {
    await using _bottle = await cliBottle(slug, home.env);
    equal((await Deno.stat(home.root)).mode! & 0o777, 0o700);
    deepStrictEqual(await modes(home.root), {
      "state/": "700",
      [`state/${slug}/`]: "700",
      [`state/${slug}/metadata.json`]: "600",
    });
    const commit = await runCli(["commit", slug], home.env);
    equal(commit.code, 0, commit.stderr);
    deepStrictEqual(await modes(home.stateDir(slug)), {
      "metadata.json": "600",
      "snapshots.json": "600",
      "run-config.json": "600",
      "committed-image": "600",
      ".preserve": "600",
    });
    const file = join(home.home, "exported.bottle");
    const exported = await runCli(["export", slug, "-o", file], home.env);
    equal(exported.code, 0, exported.stderr);
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    const imported = await runCli(["import", file, "--name", copy], home.env);
    equal(imported.code, 0, imported.stderr);
    deepStrictEqual(await modes(home.stateDir(copy)), {
      "metadata.json": "600",
      "snapshots.json": "600",
      "run-config.json": "600",
      "committed-image": "600",
      ".preserve": "600",
    });
    equal((await Deno.stat(home.stateDir(copy))).mode! & 0o777, 0o700);
  } finally {
    await removeBottleObjects(copy);
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
