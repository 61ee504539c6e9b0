// SmolmachinesFreezer through the CLI, against the `smolvm` double
// (tests/_doubles/smolvm.ts), which reproduces smolvm as documented.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { $ } from "dax";
import { type CliRun, commitJson, interruptWhen, runCli, startCli } from "../_helpers/cli.ts";
import { hasTerminal, runOnTerminal } from "../_helpers/terminal.ts";
import { snapshotTree, tempHome } from "../_helpers/temp_home.ts";
import {
  bottleOnDoubles,
  type Doubles,
  installDoubles,
  withDoublesOnPath,
} from "../_doubles/harness.ts";
import {
  defaultSmolvmWorld,
  type FakeMachine,
  fakeMachine,
  type SmolvmWorld,
} from "../_doubles/smolvm_world.ts";
import { present } from "../_helpers/present.ts";

const SLUG = "vm-x7k2p";
const NAME = `bot-bottle-${SLUG}`;

/** A temp home with a smolmachines bottle, and the doubles with `world`. */
async function setUp(world: Partial<SmolvmWorld> = {}, machine: Partial<FakeMachine> = {}) {
  const bottle = await bottleOnDoubles(SLUG, "smolmachines", {
    smolvm: { ...defaultSmolvmWorld(), machines: [fakeMachine(SLUG, machine)], ...world },
  });
  return Object.assign(bottle, { artifact: join(bottle.dir, "committed-smolmachine.smolmachine") });
}

/** The subcommands the double was called with, e.g. `["machine ls", "pack create"]`. */
async function verbs(doubles: Doubles): Promise<string[]> {
  return (await doubles.smolvm.read()).calls.map((call) => call.slice(0, 2).join(" "));
}

async function stateOf(doubles: Doubles): Promise<string | undefined> {
  return (await doubles.smolvm.read()).machines.find((machine) => machine.name === NAME)?.state;
}

/** The files inside a `.smolmachine` artifact made by the double. */
async function artifactFiles(path: string): Promise<string[]> {
  const listing = await $`tar -tf ${path}`.text();
  return listing.split("\n").filter((line) => line.startsWith("rootfs/") && !line.endsWith("/"))
    .sort();
}

function ok0(run: CliRun) {
  equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
}

Deno.test("smolmachines packs a stopped bottle into the state directory without asking", async () => {
  await using t = await setUp({}, { state: "stopped" });
  const run = await t.commit();
  ok0(run);
  deepStrictEqual(await verbs(t.doubles), [
    "--version",
    "machine ls",
    "pack create",
    "pack create",
  ]);
  const { calls } = await t.doubles.smolvm.read();
  deepStrictEqual(calls[2], ["pack", "create", "--help"]);
  deepStrictEqual(calls[3]?.slice(0, 5), [
    "pack",
    "create",
    "--from-vm",
    NAME,
    "--include-workspace",
  ]);
  equal(await Deno.readTextFile(join(t.dir, "committed-image")), `${t.artifact}\n`);
  deepStrictEqual(await artifactFiles(t.artifact), [
    "rootfs/etc/hostname",
    "rootfs/work/notes.txt",
  ]);
  equal(await $`tar -xOf ${t.artifact} workspace/plan.md`.text(), "the agent's plan");
  equal(run.stderr.includes("warning"), false, run.stderr);
  ok(
    ((await Deno.stat(join(t.dir, "committed-smolmachine"))).mode! & 0o111) !== 0,
    "stub is executable",
  );
  equal(await Deno.readTextFile(join(t.dir, ".preserve")), "");
  match(run.stderr, new RegExp(`to resume from this snapshot: bot-bottle resume ${SLUG}\n`));
  match(
    run.stderr,
    new RegExp(`to move it to another machine: bot-bottle export ${SLUG}\n`),
  );
  equal(await stateOf(t.doubles), "stopped");
  deepStrictEqual(
    (await Array.fromAsync(Deno.readDir(t.dir))).map((entry) => entry.name).sort(),
    [
      ".preserve",
      "committed-image",
      "committed-smolmachine",
      "committed-smolmachine.smolmachine",
      "metadata.json",
      "snapshots",
      "snapshots.json",
    ],
    "no temporary pack files are left",
  );
});

Deno.test("smolmachines: a running bottle needs --yes without a terminal, and nothing changes", async () => {
  await using t = await setUp();
  const before = await snapshotTree(t.home.home);
  const run = await t.commit();
  equal(run.code, 2);
  equal(
    run.stderr,
    `bot-bottle: error: committing bottle "${SLUG}" stops it first, ending the agent's session: ` +
      `pass --yes to confirm (there is no terminal to ask on)\n`,
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
  equal(await stateOf(t.doubles), "running");
});

Deno.test("smolmachines --yes stops the bottle, packs it and starts it again", async () => {
  await using t = await setUp();
  const run = await t.commit("--yes");
  ok0(run);
  deepStrictEqual(await verbs(t.doubles), [
    "--version",
    "machine ls",
    "pack create",
    "machine stop",
    "pack create",
    "machine start",
  ]);
  const { calls } = await t.doubles.smolvm.read();
  deepStrictEqual(calls[3], ["machine", "stop", "--name", NAME]);
  deepStrictEqual(calls[5], ["machine", "start", "--name", NAME]);
  equal(await stateOf(t.doubles), "running");
  equal(await Deno.readTextFile(join(t.dir, "committed-image")), `${t.artifact}\n`);
});

Deno.test("smolmachines --no-restart leaves the bottle stopped and says how to start it", async () => {
  await using t = await setUp();
  const run = await t.commit("--yes", "--no-restart");
  ok0(run);
  equal(await stateOf(t.doubles), "stopped");
  match(
    run.stderr,
    new RegExp(
      `bottle "${SLUG}" was left stopped; start it with: smolvm machine start --name ${NAME}\n`,
    ),
  );
});

for (const state of ["failed", "unreachable"] as const) {
  Deno.test(`smolmachines refuses a bottle that is ${state}, changing nothing`, async () => {
    await using t = await setUp({}, { state });
    const before = await snapshotTree(t.home.home);
    const run = await t.commit("--yes");
    equal(run.code, 1);
    equal(
      run.stderr,
      `bot-bottle: error: bottle "${SLUG}" is ${state} on smolvm and cannot be snapshotted; ` +
        `see "smolvm machine status --name ${NAME}"\n`,
    );
    deepStrictEqual(await snapshotTree(t.home.home), before);
  });
}

Deno.test("smolmachines names a missing machine and changes nothing", async () => {
  await using t = await setUp({ machines: [] });
  const before = await snapshotTree(t.home.home);
  const run = await t.commit();
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: bottle "${SLUG}" has no machine "${NAME}" on smolvm; it has been ` +
      `deleted, or was started elsewhere; see "smolvm machine ls"\n`,
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
});

Deno.test("smolmachines without smolvm names it and the platform it needs", async () => {
  await using t = await setUp();
  const run = await runCli(["commit", SLUG], { ...t.home.env, PATH: "/usr/bin:/bin" });
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: "smolvm" is not installed or not on PATH; the "smolmachines" backend ` +
      `needs smolvm, on Linux with KVM or macOS with Hypervisor.framework\n`,
  );
});

Deno.test("smolmachines: a failed pack keeps the previous artifact and its record, leaves no temp files", async () => {
  await using t = await setUp({}, { state: "stopped" });
  ok0(await t.commit());
  const before = await snapshotTree(t.home.home);
  const artifactBefore = await Deno.readFile(t.artifact);
  await t.doubles.smolvm.update((world) => {
    world.version = "1.9.3"; // up to 1.16.0 a registry-image machine re-pulls its image to pack
    world.network = false;
  });
  const run = await t.commit();
  equal(run.code, 1);
  match(run.stderr, /^bot-bottle: error: "smolvm pack create" failed \(exit status 1\): Error: /);
  deepStrictEqual(await snapshotTree(t.home.home), before);
  deepStrictEqual(await Deno.readFile(t.artifact), artifactBefore);
});

for (const source of ["local-archive", "fork"] as const) {
  Deno.test(`smolmachines passes on smolvm's refusal to pack a ${source} machine`, async () => {
    // Fork clones are refused up to 1.16.0.
    await using t = await setUp({ version: "1.9.3" }, { state: "stopped", source });
    const before = await snapshotTree(t.home.home);
    const run = await t.commit();
    equal(run.code, 1);
    match(
      run.stderr,
      /^bot-bottle: error: "smolvm pack create" failed \(exit status 1\): Error: .+\n$/,
    );
    deepStrictEqual(await snapshotTree(t.home.home), before);
  });
}

Deno.test("smolmachines: a failed pack of a running bottle still starts it again", async () => {
  await using t = await setUp({ network: false, version: "1.9.3" });
  const run = await t.commit("--yes");
  equal(run.code, 1);
  equal(await stateOf(t.doubles), "running");
  match(run.stderr, new RegExp(`started bottle "${SLUG}" again\n`));
});

Deno.test("smolmachines: Ctrl-C during the pack leaves no temp files, records nothing, restarts the bottle", async () => {
  await using t = await setUp({ packDelayMs: 30_000 });
  const before = await snapshotTree(t.home.home);
  const run = await interruptWhen(
    startCli(["commit", SLUG, "--yes"], t.env),
    async () => (await verbs(t.doubles)).includes("pack create"),
    "SIGINT",
  );
  equal(run.code, 130, run.stderr);
  // It says what state the bottle was left in.
  match(
    run.stderr,
    new RegExp(
      `started bottle "${SLUG}" again\n` +
        `bot-bottle: interrupted by SIGINT; nothing was recorded\n$`,
    ),
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
  equal(await stateOf(t.doubles), "running");
});

Deno.test("smolmachines: SIGTERM exits 143", async () => {
  await using t = await setUp({ packDelayMs: 30_000 }, { state: "stopped" });
  const run = await interruptWhen(
    startCli(["commit", SLUG], t.env),
    async () => (await verbs(t.doubles)).includes("pack create"),
    "SIGTERM",
  );
  equal(run.code, 143, run.stderr);
  match(run.stderr, /bot-bottle: interrupted by SIGTERM; nothing was recorded\n/);
});

if (hasTerminal) {
  Deno.test("smolmachines: declining the stop prompt cancels with exit 0 and leaves the bottle running", async () => {
    await using t = await setUp();
    const before = await snapshotTree(t.home.home);
    const run = await runOnTerminal(["commit", SLUG], t.env, [
      { prompt: "stop it now?", keys: "n\r" },
    ]);
    equal(run.code, 0, run.screen);
    match(run.screen, /commit cancelled; bottle ".*" is still running and nothing was changed/);
    deepStrictEqual(await snapshotTree(t.home.home), before);
    equal(await stateOf(t.doubles), "running");
  });
}

Deno.test("smolmachines commit --json prints the artifact path and commands, and no prose", async () => {
  await using t = await setUp({}, { state: "stopped" });
  const run = await t.commit("--json");
  ok0(run);
  equal(run.stderr, "");
  deepStrictEqual(commitJson(run.stdout), {
    slug: SLUG,
    backend: "smolmachines",
    artifact: t.artifact,
    resumeCommand: `bot-bottle resume ${SLUG}`,
    exportCommand: `bot-bottle export ${SLUG}`,
    backendExportCommand: `cp ${t.artifact} ${SLUG}.smolmachine`,
    pruned: [],
    warnings: [],
  });
});

Deno.test("smolmachines lists running bottles by slug for the picker", async () => {
  const { getFreezer } = await import("../../mod.ts");
  await using t = await setUp();
  await t.doubles.smolvm.update((world) => {
    world.machines.push(fakeMachine("idle-q9w8e", { state: "stopped" }), {
      ...fakeMachine("y"),
      name: "default",
    });
  });
  const slugs = await withDoublesOnPath(
    t.doubles,
    async () => await (await getFreezer("smolmachines")).bottles.runningSlugs(),
  );
  deepStrictEqual(slugs, [SLUG]);
});

Deno.test("smolmachines start refuses --env, --volume and a command, creating nothing", async () => {
  await using doubles = await installDoubles();
  await using home = await tempHome();
  for (const extra of [["--env", "A=1"], ["--volume", "/tmp:/x"], ["--", "sh"]]) {
    const run = await runCli(
      ["start", "--backend", "smolmachines", "--image", "debian:bookworm", ...extra],
      { ...home.env, ...doubles.env },
    );
    equal(run.code, 1);
    match(
      run.stderr,
      /smolmachines bottles take no --env, --volume or command from bot-bottle start/,
    );
  }
  deepStrictEqual(await snapshotTree(home.home), {});
  deepStrictEqual((await doubles.smolvm.read()).calls, []);
});

Deno.test("smolmachines resume passes on smolvm's refusal of an artifact for another CPU", async () => {
  await using t = await setUp({}, { state: "stopped" });
  ok0(await t.commit());
  await t.doubles.smolvm.update((world) => {
    world.machines = [];
    world.hostArch = "aarch64";
  });
  const run = await runCli(["resume", SLUG], t.env);
  equal(run.code, 1);
  match(
    run.stderr,
    /^bot-bottle: error: "smolvm machine create" failed \(exit status 1\): Error: .*platform mismatch/,
  );
  equal((await t.doubles.smolvm.read()).machines.length, 0);
});

const TOO_OLD = (version: string) =>
  `bot-bottle: error: smolvm ${version} is too old: bot-bottle needs smolvm 1.9.0 or later ` +
  `(image machines run the image's command from 1.9.0, and packs keep file ownership from ` +
  `1.8.1); upgrade smolvm, then try again\n`;

Deno.test("smolmachines refuses a smolvm older than 1.9.0 for resume, naming both versions", async () => {
  await using t = await setUp({}, { state: "stopped" });
  ok0(await t.commit());
  await t.doubles.smolvm.update((world) => {
    present(world.machines[0]).state = "running";
    world.version = "1.8.3";
    world.calls = [];
  });
  const before = await snapshotTree(t.home.home);
  // Even with --replace, the running machine is not touched.
  const run = await runCli(["resume", SLUG, "--replace", "--yes"], t.env);
  equal(run.code, 1);
  equal(run.stderr, TOO_OLD("1.8.3"));
  deepStrictEqual(await snapshotTree(t.home.home), before);
  deepStrictEqual(await verbs(t.doubles), ["--version"]);
  equal(await stateOf(t.doubles), "running");
});

for (const version of ["1.8.3", "1.0.1"]) {
  Deno.test(`smolmachines ${version}: commit is refused before anything runs, naming the upgrade`, async () => {
    await using t = await setUp({ version });
    const before = await snapshotTree(t.home.home);
    const run = await t.commit("--yes");
    equal(run.code, 1);
    equal(run.stderr, TOO_OLD(version));
    deepStrictEqual(await snapshotTree(t.home.home), before);
    deepStrictEqual(await verbs(t.doubles), ["--version"]);
    equal(await stateOf(t.doubles), "running");
  });
}

Deno.test("smolmachines 1.8.3: start is refused with the upgrade message, leaving no state and no machine", async () => {
  await using doubles = await installDoubles({
    smolvm: { ...defaultSmolvmWorld(), version: "1.8.3" },
  });
  await using home = await tempHome();
  const run = await runCli(
    ["start", "--backend", "smolmachines", "--image", "debian:bookworm", "--name", "old"],
    { ...home.env, ...doubles.env },
  );
  equal(run.code, 1);
  equal(run.stderr, TOO_OLD("1.8.3"));
  deepStrictEqual(await snapshotTree(home.home), {});
  deepStrictEqual((await doubles.smolvm.read()).machines, []);
});

Deno.test("smolmachines on a smolvm without --include-workspace warns that /workspace was not captured, in text and --json", async () => {
  for (const world of [{ version: "1.9.3" }, { includeWorkspace: false }]) {
    await using t = await setUp(world, { state: "stopped" });
    const version = world.version ?? defaultSmolvmWorld().version;
    const warning = `/workspace was not captured: smolvm ${version} cannot put it in a pack ` +
      `("smolvm pack create --help" lists no --include-workspace), so what the agent wrote ` +
      `there is not in this snapshot; upgrade smolvm (1.22 and later carry ` +
      `--include-workspace) and commit again`;
    const run = await t.commit();
    ok0(run);
    match(run.stderr, new RegExp(`\nwarning: ${warning.replace(/[().?]/g, "\\$&")}\n`));
    const { calls } = await t.doubles.smolvm.read();
    equal(calls.some((call) => call.includes("--include-workspace")), false);
    equal((await artifactFiles(t.artifact)).length, 2);
    equal((await $`tar -tf ${t.artifact}`.text()).includes("workspace/"), false);
    // The snapshot is still recorded: the warning says what it lacks.
    equal(await Deno.readTextFile(join(t.dir, "committed-image")), `${t.artifact}\n`);
    const json = await t.commit("--json");
    ok0(json);
    equal(json.stderr, "");
    deepStrictEqual(JSON.parse(json.stdout).warnings, [warning]);
  }
});

Deno.test("smolmachines keeps each snapshot as its own file; the newest also under the launcher's names", async () => {
  await using t = await setUp({}, { state: "stopped" });
  for (const generation of ["one", "two"]) {
    await t.doubles.smolvm.update((world) => {
      present(world.machines[0]).files["work/generation"] = generation;
    });
    ok0(await t.commit("--message", `gen ${generation}`));
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const rows = JSON.parse((await runCli(["snapshots", SLUG, "--json"], t.env)).stdout);
  equal(rows.length, 2);
  deepStrictEqual(rows.map((row: { message: string }) => row.message), ["gen two", "gen one"]);
  for (const row of rows) {
    equal(row.artifact, join(t.dir, "snapshots", `${row.id}.smolmachine`));
    equal(row.sizeBytes, (await Deno.stat(row.artifact)).size);
  }
  equal(rows[0].current, true);
  // The launcher's name is the newest snapshot, and no copy of it.
  const newest = await Deno.stat(rows[0].artifact);
  const launcher = await Deno.stat(t.artifact);
  equal(launcher.ino, newest.ino);
  // Pruning to one removes the other file (resume --at: the backend contract, contract.ts).
  await t.doubles.smolvm.update((world) => {
    world.machines = [];
  });
  ok0(await runCli(["prune", SLUG, "--keep", "1"], t.env));
  equal(await Deno.stat(rows[1].artifact).catch(() => "gone"), "gone");
  ok(await Deno.stat(rows[0].artifact));
  equal(await Deno.readTextFile(join(t.dir, "committed-image")), `${t.artifact}\n`);
});

Deno.test("smolmachines: a snapshot file that is a symbolic link counts as missing, never followed", async () => {
  const { loadRegistry } = await import("../../lib/registry/registry.ts");
  const dir = await Deno.makeTempDir();
  try {
    const target = join(dir, "elsewhere.smolmachine");
    await Deno.writeTextFile(target, "a machine somewhere else");
    const link = join(dir, "committed-smolmachine.smolmachine");
    await Deno.symlink(target, link);
    const backend = (await loadRegistry()).getBackend("smolmachines");
    equal(await backend.snapshotExists(link), false);
    equal(await backend.snapshotExists(target), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("smolmachines: prune's leftover check finds snapshot files no history records", async () => {
  const { loadRegistry } = await import("../../lib/registry/registry.ts");
  const { loadAgent } = await import("../../lib/state/agent.ts");
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, { identity: SLUG, backend: "smolmachines" });
  await Deno.mkdir(join(dir, "snapshots"));
  for (const name of ["a.smolmachine", "a", "b.smolmachine", "b"]) {
    await Deno.writeTextFile(join(dir, "snapshots", name), name);
  }
  const backend = (await loadRegistry()).getBackend("smolmachines");
  const agent = await loadAgent(SLUG, home.root);
  deepStrictEqual(
    await backend.orphanSnapshots(agent, [join(dir, "snapshots", "a.smolmachine")]),
    [join(dir, "snapshots", "b.smolmachine")],
  );
});
