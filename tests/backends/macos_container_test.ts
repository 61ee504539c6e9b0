// MacosContainerFreezer through the CLI, against the `container` double
// (tests/_doubles/container.ts), which reproduces Apple's CLI as documented.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
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
  type ContainerWorld,
  defaultContainerWorld,
  type FakeContainer,
  fakeContainer,
} from "../_doubles/container_world.ts";
import { present } from "../_helpers/present.ts";

const SLUG = "mac-m3hxd";
const NAME = `bot-bottle-${SLUG}`;
const IMAGE = `bot-bottle-committed-${SLUG}:latest`;

/** A temp home with a macos-container bottle, and the doubles with `world`. */
function setUp(world: Partial<ContainerWorld> = {}, container: Partial<FakeContainer> = {}) {
  return bottleOnDoubles(SLUG, "macos-container", {
    container: {
      ...defaultContainerWorld(),
      containers: [fakeContainer(SLUG, container)],
      ...world,
    },
  });
}

/** The subcommands the double was called with, e.g. `["--version", "list", "export"]`. */
async function verbs(doubles: Doubles): Promise<string[]> {
  const { calls } = await doubles.container.read();
  return calls.map(([verb = "", object]) => verb === "image" ? `image ${object}` : verb);
}

async function committedImage(home: { stateDir(slug: string): string }): Promise<string> {
  return await Deno.readTextFile(join(home.stateDir(SLUG), "committed-image"));
}

function ok0(run: CliRun) {
  equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
}

Deno.test("macos-container 1.2.1 exports a running bottle live and loads it as the committed image", async () => {
  await using t = await setUp();
  const run = await t.commit();
  ok0(run);
  const world = await t.doubles.container.read();
  const image = world.images.find((each) => each.reference === IMAGE);
  ok(image, `no ${IMAGE} in ${JSON.stringify(world.images.map((each) => each.reference))}`);
  const original = fakeContainer(SLUG);
  deepStrictEqual(image.files, original.files);
  deepStrictEqual(image.config, {
    Cmd: [original.initProcess.executable, ...original.initProcess.arguments],
    Env: original.initProcess.environment,
    WorkingDir: "/work",
    User: "dev",
    Labels: { "bot-bottle.slug": SLUG },
  });
  deepStrictEqual(image.platform, { os: "linux", architecture: "arm64" });
  equal(world.containers[0]?.state, "running");
  deepStrictEqual(await verbs(t.doubles), ["--version", "list", "export", "image load"]);
  equal(await committedImage(t.home), `${IMAGE}\n`);
  equal(await Deno.readTextFile(join(t.home.stateDir(SLUG), ".preserve")), "");
  match(run.stderr, new RegExp(`to resume from this snapshot: bot-bottle resume ${SLUG}\n`));
  match(
    run.stderr,
    new RegExp(`to move it to another machine: bot-bottle export ${SLUG}\n`),
  );
  deepStrictEqual(await snapshotTree(t.doubles.tmp), {}, "temporary files are removed");
});

Deno.test("macos-container keeps the user given as uid:gid", async () => {
  await using t = await setUp({}, {
    initProcess: { ...fakeContainer(SLUG).initProcess, user: { id: { uid: 501, gid: 20 } } },
  });
  ok0(await t.commit());
  const world = await t.doubles.container.read();
  equal(world.images[0]?.config.User, "501:20");
});

for (const version of ["1.2.0", "1.0.0", "0.12.3"]) {
  Deno.test(`macos-container ${version}: a running bottle needs --yes without a terminal, and nothing changes`, async () => {
    await using t = await setUp({ version });
    const before = await snapshotTree(t.home.home);
    const run = await t.commit();
    equal(run.code, 2, run.stderr);
    match(
      run.stderr,
      new RegExp(
        `bot-bottle: error: committing bottle "${SLUG}" stops it first, ending the agent's ` +
          `session: pass --yes to confirm \\(there is no terminal to ask on\\)\n$`,
      ),
    );
    deepStrictEqual(await snapshotTree(t.home.home), before);
    const world = await t.doubles.container.read();
    equal(world.containers[0]?.state, "running");
    deepStrictEqual(world.images, []);
    ok(!(await verbs(t.doubles)).includes("stop"));
  });

  Deno.test(`macos-container ${version}: --yes stops the bottle, snapshots it and starts it again`, async () => {
    await using t = await setUp({ version });
    const run = await t.commit("--yes");
    ok0(run);
    deepStrictEqual(await verbs(t.doubles), [
      "--version",
      "list",
      "stop",
      "export",
      "image load",
      "start",
    ]);
    const world = await t.doubles.container.read();
    equal(world.containers[0]?.state, "running");
    ok(world.images.some((each) => each.reference === IMAGE));
    match(run.stderr, /exports only stopped containers/);
    match(run.stderr, new RegExp(`stopped bottle "${SLUG}" for its snapshot\n`));
    match(run.stderr, new RegExp(`started bottle "${SLUG}" again\n`));
    equal(await committedImage(t.home), `${IMAGE}\n`);
  });
}

Deno.test("macos-container --no-restart leaves the stopped bottle stopped and says how to start it", async () => {
  await using t = await setUp({ version: "1.2.0" });
  const run = await t.commit("--yes", "--no-restart");
  ok0(run);
  equal((await t.doubles.container.read()).containers[0]?.state, "stopped");
  match(
    run.stderr,
    new RegExp(`bottle "${SLUG}" was left stopped; start it with: container start ${NAME}\n`),
  );
});

Deno.test("macos-container treats a version it cannot read as old: it stops the bottle first", async () => {
  await using t = await setUp({ versionOutput: "container: build from source (dirty)" });
  equal((await t.commit()).code, 2);
  const run = await t.commit("--yes");
  ok0(run);
  match(run.stderr, /the container version could not be read; treating it as older than 1\.2\.1/);
  ok((await verbs(t.doubles)).includes("stop"));
});

Deno.test("macos-container snapshots a stopped bottle without asking, and leaves it stopped", async () => {
  await using t = await setUp({ version: "1.0.0" }, { state: "stopped" });
  ok0(await t.commit());
  deepStrictEqual(await verbs(t.doubles), ["--version", "list", "export", "image load"]);
  equal((await t.doubles.container.read()).containers[0]?.state, "stopped");
});

Deno.test("macos-container 0.10 builds the image with export --image", async () => {
  await using t = await setUp({ version: "0.10.0" }, { state: "stopped" });
  ok0(await t.commit());
  const { calls, images } = await t.doubles.container.read();
  const [{ id }] = JSON.parse((await runCli(["snapshots", SLUG, "--json"], t.env)).stdout);
  const image = `bot-bottle-committed-${SLUG}:${id}`;
  deepStrictEqual(calls.at(-1), ["export", "--image", image, NAME]);
  ok(images.some((each) => each.reference === image));
  // 0.10 names it once, so committed-image names the snapshot itself.
  equal(await committedImage(t.home), `${image}\n`);
});

for (const state of ["stopping", "unknown"] as const) {
  Deno.test(`macos-container refuses a bottle that is ${state}, changing nothing`, async () => {
    await using t = await setUp({}, { state });
    const before = await snapshotTree(t.home.home);
    const run = await t.commit("--yes");
    equal(run.code, 1);
    equal(
      run.stderr,
      `bot-bottle: error: bottle "${SLUG}" is ${state} on Apple container and cannot be ` +
        `snapshotted now; wait until it is running or stopped, then commit again\n`,
    );
    deepStrictEqual(await snapshotTree(t.home.home), before);
    deepStrictEqual((await t.doubles.container.read()).images, []);
  });
}

Deno.test("macos-container names a missing container and changes nothing", async () => {
  await using t = await setUp();
  await t.doubles.container.update((world) => {
    world.containers = [];
  });
  const before = await snapshotTree(t.home.home);
  const run = await t.commit();
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: bottle "${SLUG}" has no container "${NAME}" on Apple container; it has ` +
      `been deleted, or was started elsewhere; see "container list --all"\n`,
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
});

Deno.test("macos-container says to start the container service when it is down", async () => {
  await using t = await setUp({ serviceRunning: false });
  const before = await snapshotTree(t.home.home);
  const run = await t.commit();
  equal(run.code, 1);
  equal(
    run.stderr,
    "bot-bottle: error: the container system service is not running; start it with " +
      "`container system start` and try again\n",
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
});

Deno.test("macos-container without the container CLI names it and the platform it needs", async () => {
  await using t = await setUp();
  const run = await runCli(["commit", SLUG], { ...t.home.env, PATH: "/usr/bin:/bin" });
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: "container" is not installed or not on PATH; the "macos-container" ` +
      `backend needs Apple's container CLI, on macOS 26 with Apple silicon ` +
      `(https://github.com/apple/container)\n`,
  );
});

Deno.test("macos-container: a --rm bottle deleted by its stop is reported lost, nothing recorded", async () => {
  await using t = await setUp({ version: "1.2.0" }, { autoRemove: true });
  const before = await snapshotTree(t.home.home);
  const run = await t.commit("--yes");
  equal(run.code, 1);
  match(
    run.stderr,
    new RegExp(
      `bot-bottle: error: bottle "${SLUG}" was deleted when it stopped \\(it was started with ` +
        `--rm\\), so there is nothing to snapshot\n`,
    ),
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
  deepStrictEqual(await snapshotTree(t.doubles.tmp), {});
});

Deno.test("macos-container: a failed image load keeps the previous snapshot, removes temp files, restarts the bottle", async () => {
  await using t = await setUp({ version: "1.2.0" });
  ok0(await t.commit("--yes"));
  const before = await snapshotTree(t.home.home);
  const imagesBefore = (await t.doubles.container.read()).images;
  await t.doubles.container.update((world) => {
    world.failures = { "image load": "failed to unpack image: no space left on device" };
  });
  const run = await t.commit("--yes");
  equal(run.code, 1);
  match(
    run.stderr,
    /bot-bottle: error: "container image load" failed \(exit status 1\): Error: failed to unpack image: no space left on device\n/,
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
  const world = await t.doubles.container.read();
  deepStrictEqual(world.images, imagesBefore);
  equal(world.containers[0]?.state, "running");
  deepStrictEqual(await snapshotTree(t.doubles.tmp), {});
});

Deno.test("macos-container: Ctrl-C during the export removes temp files, records nothing, restarts the bottle", async () => {
  await using t = await setUp({ version: "1.2.0", exportDelayMs: 30_000 });
  const before = await snapshotTree(t.home.home);
  const run = await interruptWhen(
    startCli(["commit", SLUG, "--yes"], t.env),
    async () => (await verbs(t.doubles)).includes("export"),
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
  deepStrictEqual(await snapshotTree(t.doubles.tmp), {});
  const world = await t.doubles.container.read();
  deepStrictEqual(world.images, []);
  equal(world.containers[0]?.state, "running");
});

if (hasTerminal) {
  Deno.test("macos-container: declining the stop prompt cancels with exit 0 and leaves the bottle running", async () => {
    await using t = await setUp({ version: "1.2.0" });
    const before = await snapshotTree(t.home.home);
    const run = await runOnTerminal(["commit", SLUG], t.env, [
      { prompt: "stop it now?", keys: "n\r" },
    ]);
    equal(run.code, 0, run.screen);
    match(run.screen, /deletes it and the bottle is lost/);
    match(
      run.screen,
      new RegExp(
        `bot-bottle: commit cancelled; bottle "${SLUG}" is still running and nothing was changed`,
      ),
    );
    deepStrictEqual(await snapshotTree(t.home.home), before);
    equal((await t.doubles.container.read()).containers[0]?.state, "running");
  });
}

Deno.test("macos-container commit --json prints the artifact and commands, and no prose", async () => {
  await using t = await setUp();
  const run = await t.commit("--json");
  ok0(run);
  equal(run.stderr, "");
  deepStrictEqual(commitJson(run.stdout), {
    slug: SLUG,
    backend: "macos-container",
    artifact: IMAGE,
    resumeCommand: `bot-bottle resume ${SLUG}`,
    exportCommand: `bot-bottle export ${SLUG}`,
    backendExportCommand: `container image save -o ${SLUG}.tar ${IMAGE}`,
    pruned: [],
    warnings: [],
  });
});

Deno.test("macos-container commit --no-pause is refused, changing nothing", async () => {
  await using t = await setUp();
  const before = await snapshotTree(t.home.home);
  const world = await t.doubles.container.read();
  const run = await t.commit("--no-pause");
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: --no-pause works only on docker, and bottle "${SLUG}" runs on ` +
      `macos-container; commit it without --no-pause\n`,
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
  deepStrictEqual(await t.doubles.container.read(), world);
});

Deno.test("macos-container lists running bottles by slug for the picker", async () => {
  const { getFreezer } = await import("../../mod.ts");
  await using t = await setUp({}, {});
  await t.doubles.container.update((world) => {
    world.containers.push(
      fakeContainer("other-a1b2c", { state: "stopped" }),
      fakeContainer("x", { id: "not-a-bottle" }),
    );
  });
  const slugs = await withDoublesOnPath(
    t.doubles,
    async () => await (await getFreezer("macos-container")).bottles.runningSlugs(),
  );
  deepStrictEqual(slugs, [SLUG]);
});

for (const version of ["0.12.3", "1.0.0", "1.2.1", "1.2.2"]) {
  Deno.test(`macos-container ${version}: commit → destroy --keep-snapshot → resume finds the snapshot in the image list`, async () => {
    await using t = await setUp({ version });
    ok0(await t.commit("--yes"));
    ok0(await runCli(["destroy", SLUG, "--keep-snapshot", "--yes"], t.env));
    const resumed = await runCli(["resume", SLUG], t.env);
    ok0(resumed);
    const rows = JSON.parse((await runCli(["ls", "--json"], t.env)).stdout);
    deepStrictEqual(
      rows.map((row: { state: string; snapshot: { exists: boolean } }) => [
        row.state,
        row.snapshot.exists,
      ]),
      [["running", true]],
    );
    const container = (await t.doubles.container.read()).containers.find((each) =>
      each.id === NAME
    );
    equal(container?.files["work/notes.txt"], "agent work\n");
  });
}

Deno.test("macos-container: container before 0.10.0 cannot snapshot; commit says to upgrade and changes nothing", async () => {
  await using t = await setUp({ version: "0.9.0" });
  const before = await snapshotTree(t.home.home);
  const run = await t.commit("--yes");
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: container 0.9.0 is too old to snapshot: it has no "container export" ` +
      `(added in 0.10.0); upgrade Apple's container CLI to 0.10.0 or later (1.2.1 and later ` +
      `snapshot without stopping the bottle), then commit again\n`,
  );
  deepStrictEqual(await snapshotTree(t.home.home), before);
  deepStrictEqual(await verbs(t.doubles), ["--version"]);
  equal((await t.doubles.container.read()).containers[0]?.state, "running");
});

Deno.test("macos-container start refuses a slug too long for Apple's 63-character names, creating nothing", async () => {
  await using home = await tempHome();
  await using doubles = await installDoubles({
    container: {
      ...defaultContainerWorld(),
      images: [{
        reference: "docker.io/library/debian:bookworm",
        files: {},
        config: { Cmd: ["sh"] },
        platform: { os: "linux", architecture: "arm64" },
      }],
    },
  });
  const env = { ...home.env, ...doubles.env };
  const long = "a".repeat(53);
  const refused = await runCli(
    ["start", "--backend", "macos-container", "--image", "debian:bookworm", "--name", long],
    env,
  );
  equal(refused.code, 1);
  equal(
    refused.stderr,
    `bot-bottle: error: the slug "${long}" is too long for Apple container: its container name ` +
      `"bot-bottle-${long}" has 64 characters and Apple allows at most 63, so a slug may have ` +
      `at most 52; pick a shorter --name\n`,
  );
  deepStrictEqual(await snapshotTree(home.home), {});
  deepStrictEqual((await doubles.container.read()).calls, []);
  // An imported snapshot under such a slug is refused at resume, before anything changes.
  const short = await runCli(
    ["start", "--backend", "macos-container", "--image", "debian:bookworm", "--name", "short"],
    env,
  );
  ok0(short);
  ok0(await runCli(["commit", "short"], env));
  const file = join(home.home, "short.bottle");
  ok0(await runCli(["export", "short", "-o", file], env));
  ok0(await runCli(["import", file, "--name", long], env));
  const before = await snapshotTree(home.home);
  const containers = (await doubles.container.read()).containers.length;
  const resumed = await runCli(["resume", long], env);
  equal(resumed.code, 1);
  match(resumed.stderr, /^bot-bottle: error: the slug "a{53}" is too long for Apple container/);
  deepStrictEqual(await snapshotTree(home.home), before);
  equal((await doubles.container.read()).containers.length, containers);
  const fits = await runCli(
    [
      "start",
      "--backend",
      "macos-container",
      "--image",
      "debian:bookworm",
      "--name",
      long.slice(1),
    ],
    env,
  );
  ok0(fits);
  ok(
    (await doubles.container.read()).containers.some((each) =>
      each.id === `bot-bottle-${long.slice(1)}`
    ),
  );
});

Deno.test("macos-container keeps each snapshot as its own image: snapshots, resume --at, prune", async () => {
  await using t = await setUp();
  for (const generation of ["one", "two"]) {
    await t.doubles.container.update((world) => {
      present(world.containers[0]).files["work/generation"] = generation;
    });
    ok0(await t.commit());
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const rows = JSON.parse((await runCli(["snapshots", SLUG, "--json"], t.env)).stdout);
  equal(rows.length, 2);
  const references = (await t.doubles.container.read()).images.map((image) => image.reference);
  for (const row of rows) {
    equal(row.artifact, `bot-bottle-committed-${SLUG}:${row.id}`);
    ok(references.includes(row.artifact), `${row.artifact} in ${references}`);
    ok(row.sizeBytes > 0);
  }
  ok(references.includes(IMAGE), ":latest names the newest");

  ok0(await runCli(["resume", SLUG, "--at", "~1", "--replace", "--yes"], t.env));
  const resumed = (await t.doubles.container.read()).containers.find((each) => each.id === NAME);
  equal(resumed?.files["work/generation"], "one");

  ok0(await runCli(["prune", SLUG, "--keep", "1"], t.env));
  // The older snapshot is protected: the running bottle was resumed from it.
  equal(JSON.parse((await runCli(["snapshots", SLUG, "--json"], t.env)).stdout).length, 2);
  ok0(await runCli(["destroy", SLUG, "--keep-snapshot", "--yes"], t.env));
  ok0(await runCli(["prune", SLUG, "--keep", "1"], t.env));
  const [kept] = JSON.parse((await runCli(["snapshots", SLUG, "--json"], t.env)).stdout);
  equal(kept.id, rows[0].id);
  const after = (await t.doubles.container.read()).images.map((image) => image.reference);
  ok(!after.includes(rows[1].artifact), "the pruned image is gone");
  ok(after.includes(rows[0].artifact) && after.includes(IMAGE));
});

Deno.test("macos-container adopts a snapshot from before histories as :legacy", async () => {
  await using t = await setUp();
  await t.doubles.container.update((world) => {
    world.images.push({
      reference: IMAGE,
      files: { "old.txt": "old\n" },
      config: {},
      platform: { os: "linux", architecture: "arm64" },
    });
  });
  await Deno.writeTextFile(join(t.dir, "committed-image"), `${IMAGE}\n`);
  ok0(await t.commit());
  const rows = JSON.parse((await runCli(["snapshots", SLUG, "--json"], t.env)).stdout);
  deepStrictEqual(rows.map((row: { id: string }) => row.id).at(-1), "legacy");
  const legacy = (await t.doubles.container.read()).images.find((image) =>
    image.reference === `bot-bottle-committed-${SLUG}:legacy`
  );
  equal(legacy?.files["old.txt"], "old\n");
});
