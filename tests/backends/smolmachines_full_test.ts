// `commit --mode full` on smolmachines: memory snapshots (smolvm checkpoints)
// through the CLI as a subprocess, against the `smolvm` double, which keeps a
// boot id and a tmpfs `/run` per machine that a checkpoint carries and a pack
// does not: a resumed checkpoint is told from a fresh boot by them.

import { deepStrictEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { type CliRun, interruptWhen, runCli, startCli } from "../_helpers/cli.ts";
import { craftedBottle } from "../_helpers/crafted.ts";
import { launcherMetadata, snapshotTree, tempHome } from "../_helpers/temp_home.ts";
import { bottleOnDoubles, installDoubles } from "../_doubles/harness.ts";
import {
  defaultSmolvmWorld,
  type FakeMachine,
  fakeMachine,
  type SmolvmWorld,
} from "../_doubles/smolvm_world.ts";

const BOOT_ID = "/proc/sys/kernel/random/boot_id";
const IMAGE = "docker.io/library/debian:bookworm";

function ok0(run: CliRun, what: string): CliRun {
  equal(run.code, 0, `${what}: exit ${run.code}: ${run.stderr}`);
  return run;
}

/** A temp home and the doubles (smolvm 1.25.4 by default), with a CLI runner. */
async function setUp(world: Partial<SmolvmWorld> = {}) {
  const home = await tempHome();
  const doubles = await installDoubles({ smolvm: { ...defaultSmolvmWorld(), ...world } });
  const env = { ...home.env, ...doubles.env };
  const cli = (args: string[], input?: string) => runCli(args, env, input);
  return {
    home,
    doubles,
    env,
    cli,
    /** `bot-bottle start --backend smolmachines`; returns the slug. */
    async start(label: string): Promise<string> {
      const run = ok0(
        await cli(["start", "--backend", "smolmachines", "--name", label, "--image", IMAGE]),
        "start",
      );
      return run.stdout.trim();
    },
    /** What `path` holds in the bottle (`bot-bottle exec … cat`), or `undefined`. */
    async read(slug: string, path: string): Promise<string | undefined> {
      const run = await cli(["exec", slug, "--", "cat", path]);
      return run.code === 0 ? run.stdout : undefined;
    },
    /** Writes `text` to `path` in the bottle (`bot-bottle exec … tee`). */
    async write(slug: string, path: string, text: string): Promise<void> {
      ok0(await cli(["exec", slug, "--", "tee", path], text), `write ${path}`);
    },
    /** The machine of bottle `slug`, as the double has it. */
    async machine(slug: string): Promise<FakeMachine | undefined> {
      return (await doubles.smolvm.read()).machines.find((each) =>
        each.name === `bot-bottle-${slug}`
      );
    },
    /** The subcommands smolvm was called with since `from`, e.g. `machine checkpoint`. */
    async verbs(from = 0): Promise<string[]> {
      return (await doubles.smolvm.read()).calls.slice(from).map((call) =>
        call.slice(0, 2).join(" ")
      );
    },
    async [Symbol.asyncDispose]() {
      await doubles[Symbol.asyncDispose]();
      await home[Symbol.asyncDispose]();
    },
  };
}

/** The files in the bottle's `snapshots/` directory. */
async function snapshotFiles(dir: string): Promise<string[]> {
  const entries = await Array.fromAsync(Deno.readDir(join(dir, "snapshots")))
    .catch((): Deno.DirEntry[] => []);
  return entries.map((entry) => entry.name).sort();
}

Deno.test("smolmachines commit --mode full: the bottle keeps running; destroy --keep-snapshot, resume gives back its memory and files; resume --at a disk snapshot boots fresh", async () => {
  await using t = await setUp();
  const slug = await t.start("full-rt");
  const started = (await t.doubles.smolvm.read()).calls.find((call) => call[1] === "start");
  deepStrictEqual(started, ["machine", "start", "--name", `bot-bottle-${slug}`, "--branchable"]);

  // A disk snapshot first (a pack: the bottle is stopped and started again, branchable).
  await t.write(slug, "/workspace/plan.md", "version 1\n");
  ok0(await t.cli(["commit", slug, "--yes"]), "commit --mode disk");
  equal((await t.machine(slug))?.branchable, true, "started branchable again after the pack");

  // Then work, some of it only in memory, and a full snapshot.
  const boot = await t.read(slug, BOOT_ID);
  ok(boot, "a boot id");
  await t.write(slug, "/run/agent", "pid 42, turn 7\n");
  await t.write(slug, "/workspace/plan.md", "version 2\n");
  const calls = (await t.doubles.smolvm.read()).calls.length;
  // No --yes and no terminal: nothing is stopped, so nothing is asked.
  const full = ok0(await t.cli(["commit", slug, "--mode", "full", "--json"]), "commit --mode full");
  const result = JSON.parse(full.stdout);
  equal(result.mode, "full");
  equal(result.backendExportCommand, `cp -R ${result.artifact} ${slug}.smolcheckpoint`);
  deepStrictEqual(await t.verbs(calls), ["--version", "machine ls", "machine checkpoint"]);
  equal((await t.machine(slug))?.state, "running");
  equal(await t.read(slug, BOOT_ID), boot, "the bottle kept running: same boot");

  const dir = t.home.stateDir(slug);
  const files = await snapshotFiles(dir);
  equal(files.filter((name) => name.endsWith(".smolcheckpoint")).length, 1, files.join(", "));
  equal(files.some((name) => name.startsWith(".tmp-")), false, "no temporary checkpoint left");
  const [newest, older] = JSON.parse(ok0(await t.cli(["snapshots", slug, "--json"]), "").stdout);
  deepStrictEqual([newest.mode, older.mode], ["full", "disk"]);
  equal(newest.artifact, join(dir, "snapshots", `${newest.id}.smolcheckpoint`));
  equal(await Deno.readTextFile(join(dir, "committed-image")), `${newest.artifact}\n`);
  ok(newest.sizeBytes > 0);
  // The launcher's names stay on the newest pack.
  equal(
    (await Deno.stat(join(dir, "committed-smolmachine.smolmachine"))).ino,
    (await Deno.stat(older.artifact)).ino,
  );
  match(
    ok0(await t.cli(["snapshots", slug]), "snapshots").stdout,
    new RegExp(`^\\* +${newest.id} +\\S+ +full +`, "m"),
  );
  const [row] = JSON.parse(ok0(await t.cli(["ls", "--json"]), "ls").stdout);
  equal(row.snapshot.mode, "full");
  equal(row.snapshot.exists, true);
  match(ok0(await t.cli(["ls"]), "ls").stdout, /\.smolcheckpoint +full +/);

  ok0(await t.cli(["destroy", slug, "--keep-snapshot", "--yes"]), "destroy --keep-snapshot");
  equal(await t.machine(slug), undefined);
  const callsBefore = (await t.doubles.smolvm.read()).calls.length;
  const resumedRun = ok0(await t.cli(["resume", slug]), "resume");
  match(resumedRun.stderr, /its memory came back, and its processes carried on where they were/);
  const resumed = (await t.doubles.smolvm.read()).calls.slice(callsBefore);
  ok(
    resumed.some((call) =>
      call.join(" ") ===
        `machine create --name bot-bottle-${slug} --from ${newest.artifact}`
    ),
    JSON.stringify(resumed),
  );
  equal(await t.read(slug, BOOT_ID), boot, "resumed, not booted: the same boot id");
  equal(await t.read(slug, "/run/agent"), "pid 42, turn 7\n", "memory came back");
  equal(await t.read(slug, "/workspace/plan.md"), "version 2\n");
  const again = ok0(await t.cli(["resume", slug, "--replace", "--yes", "--json"]), "again");
  equal(JSON.parse(again.stdout).mode, "full");
  equal(await t.read(slug, "/run/agent"), "pid 42, turn 7\n", "the same memory again");

  // The disk snapshot of the same bottle boots fresh: no memory, its own files.
  const atDisk = ok0(
    await t.cli(["resume", slug, "--at", older.id, "--replace", "--yes", "--json"]),
    "resume --at",
  );
  equal(JSON.parse(atDisk.stdout).mode, "disk");
  equal(atDisk.stderr.includes("memory came back"), false);
  const fresh = await t.read(slug, BOOT_ID);
  ok(fresh);
  notEqual(fresh, boot, "a fresh boot");
  equal(await t.read(slug, "/run/agent"), undefined, "no memory in a pack");
  equal(await t.read(slug, "/workspace/plan.md"), "version 1\n");
  equal((await t.machine(slug))?.branchable, true, "a resumed bottle is branchable");
});

/** A bottle the launcher started on smolvm (its machine as `machine` says), its home and doubles. */
async function launcherBottle(machine: Partial<FakeMachine>, world: Partial<SmolvmWorld> = {}) {
  const slug = "vm-full1";
  const bottle = await bottleOnDoubles(slug, "smolmachines", {
    smolvm: { ...defaultSmolvmWorld(), machines: [fakeMachine(slug, machine)], ...world },
  });
  return Object.assign(bottle, { slug });
}

/** Runs `commit --mode full`, and checks it failed with exactly `line` and changed nothing. */
async function refusedUnchanged(
  bottle: Awaited<ReturnType<typeof launcherBottle>>,
  line: RegExp,
  code = 1,
): Promise<string> {
  const before = await snapshotTree(bottle.home.home);
  const machines = (await bottle.doubles.smolvm.read()).machines;
  const run = await bottle.commit("--mode", "full", "--yes");
  equal(run.code, code, run.stderr);
  equal(run.stdout, "");
  equal(run.stderr.split("\n").length, 2, `one line: ${run.stderr}`);
  match(run.stderr, line);
  deepStrictEqual(await snapshotTree(bottle.home.home), before, "no record, no file");
  deepStrictEqual((await bottle.doubles.smolvm.read()).machines, machines, "the machine as it was");
  return run.stderr;
}

Deno.test("smolmachines commit --mode full refuses a bottle not started branchable, saying --mode disk works; nothing changes", async () => {
  await using bottle = await launcherBottle({ branchable: false });
  await refusedUnchanged(
    bottle,
    /^bot-bottle: error: bottle "vm-full1" was not started branchable \(smolvm decides that when a machine starts, and the launcher and older bot-bottle versions start machines without it\), so its memory cannot be captured; commit it with --mode disk, which works, and starts it again branchable, so that --mode full works after that\n$/,
  );
  const verbs = (await bottle.doubles.smolvm.read()).calls.map((call) => call.join(" "));
  equal(verbs.some((call) => call.startsWith("machine checkpoint")), false);
  // As it says: a disk commit starts it again branchable, and then --mode full works.
  equal((await bottle.commit("--mode", "disk", "--yes")).code, 0);
  const full = await bottle.commit("--mode", "full");
  equal(full.code, 0, full.stderr);
});

Deno.test("smolmachines commit --mode full refuses host mounts and published sockets, naming them; nothing changes", async () => {
  {
    await using bottle = await launcherBottle({ branchable: true, mounts: ["/home/me/src:/src"] });
    await refusedUnchanged(
      bottle,
      /^bot-bottle: error: bottle "vm-full1" has resources bound to this host, host mounts \(1\), which smolvm's checkpoint does not support, so its memory cannot be captured; commit it with --mode disk, which works\n$/,
    );
  }
  await using bottle = await launcherBottle({
    branchable: true,
    publishedSockets: ["/tmp/a.sock", "/tmp/b.sock"],
  });
  await refusedUnchanged(bottle, /published ports or sockets \(2\).*--mode disk, which works\n$/);
});

Deno.test("smolmachines commit --mode full refuses a stopped bottle: no memory to capture; nothing changes", async () => {
  await using bottle = await launcherBottle({ state: "stopped" });
  await refusedUnchanged(
    bottle,
    /^bot-bottle: error: bottle "vm-full1" is stopped on smolvm, so it has no memory to capture; commit it with --mode disk, which works\n$/,
  );
  // And --mode disk does work on it.
  equal((await bottle.commit("--mode", "disk")).code, 0);
});

Deno.test("smolmachines commit --mode full: smolvm's own refusal of a host resource is one line naming it and --mode disk; nothing changes", async () => {
  await using bottle = await launcherBottle({ branchable: true }, {
    failures: {
      "machine checkpoint": "the initial portable checkpoint profile does not support a GPU; " +
        "stop or detach these resources before capture",
    },
  });
  await refusedUnchanged(
    bottle,
    /^bot-bottle: error: bottle "vm-full1" holds resources bound to this host that smolvm's checkpoint does not support \(a GPU\), so its memory cannot be captured; commit it with --mode disk, which works\n$/,
  );
});

Deno.test("smolmachines commit --mode full on a smolvm before 1.10.0 is refused, saying --mode disk works", async () => {
  await using bottle = await launcherBottle({}, { version: "1.9.3" });
  await refusedUnchanged(
    bottle,
    /^bot-bottle: error: smolvm 1\.9\.3 cannot snapshot a machine's memory \("smolvm machine checkpoint" came with 1\.10\.0\); commit it with --mode disk, which works, or upgrade smolvm for --mode full\n$/,
  );
});

Deno.test("smolmachines: Ctrl-C during the checkpoint records nothing, leaves no file, and the bottle runs on", async () => {
  await using t = await setUp();
  const slug = await t.start("full-int");
  await t.write(slug, "/run/agent", "busy\n");
  await t.doubles.smolvm.update((world) => world.checkpointDelayMs = 30_000);
  const before = await snapshotTree(t.home.home);
  const run = await interruptWhen(
    startCli(["commit", slug, "--mode", "full"], t.env),
    async () => (await t.verbs()).includes("machine checkpoint"),
    "SIGINT",
  );
  equal(run.code, 130, run.stderr);
  match(run.stderr, /bot-bottle: interrupted by SIGINT; nothing was recorded\n$/);
  deepStrictEqual(await snapshotTree(t.home.home), before, "no record, no partial checkpoint");
  equal((await t.machine(slug))?.state, "running");
  equal(await t.read(slug, "/run/agent"), "busy\n", "its memory untouched");
});

Deno.test("smolmachines: resume of a full snapshot on a smolvm before 1.10.0 is refused before anything changes", async () => {
  await using t = await setUp();
  const slug = await t.start("full-old");
  ok0(await t.cli(["commit", slug, "--mode", "full"]), "commit --mode full");
  ok0(await t.cli(["destroy", slug, "--keep-snapshot", "--yes"]), "destroy --keep-snapshot");
  await t.doubles.smolvm.update((world) => world.version = "1.9.3");
  const before = await snapshotTree(t.home.home);
  const run = await t.cli(["resume", slug]);
  deepStrictEqual([run.code, run.stdout], [1, ""]);
  match(
    run.stderr,
    /^bot-bottle: error: the snapshot \S+\.smolcheckpoint of bottle "full-old" is a full one \(memory and disk\), which smolvm 1\.9\.3 cannot restore \(checkpoints came with 1\.10\.0\); upgrade smolvm, or resume a disk snapshot with --at \(see "bot-bottle snapshots full-old"\)\n$/,
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
  equal(await t.machine(slug), undefined, "no machine made");
});

/** smolvm before 1.10.0 has no --branchable: bottles start plain there. */
Deno.test("smolmachines start on a smolvm before 1.10.0 starts the machine without --branchable", async () => {
  await using t = await setUp({ version: "1.9.3" });
  const slug = await t.start("old-start");
  deepStrictEqual(
    (await t.doubles.smolvm.read()).calls.find((call) => call[1] === "start"),
    ["machine", "start", "--name", `bot-bottle-${slug}`],
  );
  equal((await t.machine(slug))?.state, "running");
});

Deno.test("commit --mode full on docker and macos-container is a usage error naming smolmachines; a bad --mode too", async () => {
  await using home = await tempHome();
  await using doubles = await installDoubles();
  const env = { ...home.env, ...doubles.env };
  await home.writeBottle("dk-full1", launcherMetadata("dk-full1", { backend: "docker" }));
  await home.writeBottle("mc-full1", launcherMetadata("mc-full1", { backend: "macos-container" }));
  const before = await snapshotTree(home.home);
  for (const [slug, backend] of [["dk-full1", "docker"], ["mc-full1", "macos-container"]]) {
    const run = await runCli(["commit", slug!, "--mode", "full"], env);
    deepStrictEqual([run.code, run.stdout], [2, ""]);
    equal(
      run.stderr,
      `bot-bottle: error: --mode full works only on smolmachines, and bottle "${slug}" runs on ` +
        `${backend}; commit it with --mode disk\n`,
    );
  }
  const bad = await runCli(["commit", "dk-full1", "--mode", "memory"], env);
  deepStrictEqual([bad.code, bad.stderr], [
    2,
    `bot-bottle: error: --mode must be disk or full, not "memory"; run "bot-bottle commit --help"\n`,
  ]);
  deepStrictEqual(await snapshotTree(home.home), before);
  equal((await doubles.container.read()).calls.length, 0, "no backend was asked");
});

Deno.test("smolmachines: prune, retention and destroy remove checkpoints like packs", async () => {
  await using t = await setUp();
  const slug = await t.start("full-prune");
  const dir = t.home.stateDir(slug);
  for (let n = 0; n < 3; n++) {
    ok0(await t.cli(["commit", slug, "--mode", "full"]), `commit ${n}`);
  }
  equal((await snapshotFiles(dir)).length, 3);
  const dry = ok0(await t.cli(["prune", slug, "--keep", "1", "--dry-run", "--json"]), "dry");
  equal(JSON.parse(dry.stdout)[0].removed.length, 2);
  equal((await snapshotFiles(dir)).length, 3, "a dry run removes nothing");
  ok0(await t.cli(["prune", slug, "--keep", "1"]), "prune");
  const [kept] = JSON.parse(ok0(await t.cli(["snapshots", slug, "--json"]), "").stdout);
  deepStrictEqual(await snapshotFiles(dir), [`${kept.id}.smolcheckpoint`]);

  // Retention after a commit, with BOT_BOTTLE_KEEP_SNAPSHOTS; the text output names the mode.
  const run = await runCli(["commit", slug, "--mode", "full"], {
    ...t.env,
    BOT_BOTTLE_KEEP_SNAPSHOTS: "1",
  });
  ok0(run, "commit with retention");
  match(
    run.stderr,
    /\(snapshot \d{8}T\d{6}Z(-\d+)?, full: memory and disk; the bottle kept running\)/,
  );
  match(
    run.stderr,
    new RegExp(`removed 1 old snapshot\\(s\\) beyond the newest 1 \\(${kept.id}\\)`),
  );
  equal((await snapshotFiles(dir)).length, 1);

  ok0(await t.cli(["destroy", slug, "--yes"]), "destroy");
  equal(await Deno.stat(dir).then(() => true, () => false), false);
  equal(await t.machine(slug), undefined);
});

Deno.test("smolmachines: export and import of a full snapshot round-trip its memory and files", async () => {
  await using t = await setUp();
  const slug = await t.start("full-move");
  await t.write(slug, "/run/agent", "mid-task\n");
  await t.write(slug, "/workspace/plan.md", "moved\n");
  const boot = await t.read(slug, BOOT_ID);
  ok0(await t.cli(["commit", slug, "--mode", "full"]), "commit --mode full");
  const out = join(t.home.home, "moved.bottle");
  ok0(await t.cli(["export", slug, "-o", out]), "export");
  ok0(await t.cli(["destroy", slug, "--yes"]), "destroy");

  const imported = ok0(await t.cli(["import", out, "--json"]), "import");
  const result = JSON.parse(imported.stdout);
  equal(result.slug, slug);
  match(result.artifact, /\/snapshots\/\d{8}T\d{6}Z\.smolcheckpoint$/);
  const [record] = JSON.parse(ok0(await t.cli(["snapshots", slug, "--json"]), "").stdout);
  equal(record.mode, "full");
  ok0(await t.cli(["resume", slug]), "resume");
  equal(await t.read(slug, BOOT_ID), boot, "the memory came with it");
  equal(await t.read(slug, "/run/agent"), "mid-task\n");
  equal(await t.read(slug, "/workspace/plan.md"), "moved\n");
});

Deno.test("smolmachines: import refuses a full snapshot from another OS or CPU up front, writing nothing", async () => {
  await using home = await tempHome();
  const artifact = join(home.home, "artifact.smolcheckpoint");
  await Deno.writeTextFile(artifact, "{}");
  const here = { os: Deno.build.os, arch: Deno.build.arch };
  const cases = [
    { os: here.os === "darwin" ? "linux" : "darwin", arch: here.arch },
    { os: here.os, arch: here.arch === "aarch64" ? "x86_64" : "aarch64" },
  ];
  for (const [n, platform] of cases.entries()) {
    const file = await craftedBottle(join(home.home, `other-${n}.bottle`), {
      slug: "vm-far1",
      backend: "smolmachines",
      artifactPath: artifact,
      artifactName: "artifact.smolcheckpoint",
      mode: "full",
      platform,
    });
    const before = await snapshotTree(home.home);
    const run = await runCli(["import", file], home.env);
    deepStrictEqual([run.code, run.stdout], [1, ""]);
    equal(
      run.stderr,
      `bot-bottle: error: ${file} holds a full smolvm snapshot (memory and disk) made on ` +
        `${platform.os}/${platform.arch}, and this machine is ${here.os}/${here.arch}: a ` +
        `checkpoint resumes only on the same OS and CPU; nothing was imported: export a disk ` +
        `snapshot of the bottle there (commit --mode disk) and import that\n`,
    );
    deepStrictEqual(await snapshotTree(home.home), before);
  }
  // A manifest whose mode does not match its artifact is refused the same way.
  const lying = await craftedBottle(join(home.home, "lying.bottle"), {
    slug: "vm-far1",
    backend: "smolmachines",
    artifactPath: artifact,
    artifactName: "artifact.smolcheckpoint",
    mode: "disk",
    platform: here,
  });
  const before = await snapshotTree(home.home);
  const run = await runCli(["import", lying], home.env);
  deepStrictEqual([run.code, run.stdout], [1, ""]);
  equal(
    run.stderr,
    `bot-bottle: error: ${lying} is not a usable bot-bottle archive: its manifest says a disk ` +
      `snapshot, but its artifact is artifact.smolcheckpoint; export the bottle again with ` +
      `"bot-bottle export"\n`,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});
