// Ctrl-C (SIGINT) and SIGTERM at several points of a commit, a resume, an
// export and an import on Docker: the exit status is 130/143, the state is
// all old, and no half-made image, container or temporary file is left.
// (The doubles' tests do the same for macos-container and smolmachines,
// whose bottles are stopped for a snapshot and started again.)

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { interruptWhen, runCli, startCli } from "../_helpers/cli.ts";
import { assertConsistent, leftoverTempDirs } from "../_helpers/consistency.ts";
import {
  bottleWithState,
  docker,
  dockerTest,
  removeBottleObjects,
  testSlug,
} from "../_helpers/docker.ts";
import { dockerShim } from "../_helpers/faults.ts";
import { snapshotTree } from "../_helpers/temp_home.ts";

const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;

/** A private TMPDIR for one CLI run, to see what it leaves there. */
async function privateTmp(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir();
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

async function imageId(reference: string): Promise<string | undefined> {
  return await docker("image", "inspect", "--format", "{{.Id}}", reference).catch(() => undefined);
}

// Where a commit can be interrupted: inside docker commit once the engine made
// the image; before :latest moves; once :latest moved and the image was read.
const COMMIT_POINTS: { at: string[]; after: boolean; signal: keyof typeof SIGNALS }[] = [
  { at: ["commit"], after: true, signal: "SIGINT" },
  { at: ["tag"], after: false, signal: "SIGTERM" },
  { at: ["image", "inspect"], after: true, signal: "SIGINT" },
];

for (const { at, after, signal } of COMMIT_POINTS) {
  dockerTest(
    `${signal} during "docker ${at.join(" ")}"${
      after ? " (done in the engine)" : ""
    } of a commit: exit ${SIGNALS[signal]}, state and images as before`,
    async () => {
      await using fixture = await bottleWithState("int");
      const { home, bottle, dir } = fixture;
      const latest = await imageId(bottle.image);
      await bottle.exec("sh", "-c", "echo more > /more");
      const before = await snapshotTree(dir);
      await using shim = await dockerShim(at, after);
      await using tmp = await privateTmp();
      const run = await interruptWhen(
        startCli(["commit", bottle.slug], { ...home.env, ...shim.env, TMPDIR: tmp.path }),
        shim.reached,
        signal,
      );
      equal(run.code, SIGNALS[signal], run.stderr);
      match(
        run.stderr,
        new RegExp(`bot-bottle: interrupted by ${signal}; nothing was recorded\\n$`),
      );
      deepStrictEqual(await snapshotTree(dir), before);
      equal(await imageId(bottle.image), latest, ":latest moved");
      equal((await assertConsistent(dir, bottle.slug)).ids.length, 1);
      deepStrictEqual(await leftoverTempDirs(tmp.path), []);
    },
  );
}

dockerTest(
  "SIGINT while a resumed bottle boots: exit 130, the half-started bottle removed, the state as before",
  async () => {
    await using fixture = await bottleWithState("intr");
    const { home, bottle, dir } = fixture;
    await docker("rm", "-f", bottle.container);
    const before = await snapshotTree(dir);
    await using shim = await dockerShim(["run"], true);
    const run = await interruptWhen(
      startCli(["resume", bottle.slug], { ...home.env, ...shim.env }),
      shim.reached,
      "SIGINT",
    );
    equal(run.code, 130, run.stderr);
    match(
      run.stderr,
      new RegExp(
        `bottle "${bottle.slug}" was not resumed; the half-started ${bottle.container} was ` +
          `removed; its snapshot \\S+ and state are unchanged: run resume again\\n` +
          `bot-bottle: interrupted by SIGINT; nothing was recorded\\n$`,
      ),
    );
    deepStrictEqual(await snapshotTree(dir), before);
    equal(await docker("ps", "-aq", "--filter", `name=^${bottle.container}$`), "");
    await assertConsistent(dir, bottle.slug);
  },
);

dockerTest(
  "SIGTERM while an export is written: exit 143, no export file, no temp files",
  async () => {
    await using fixture = await bottleWithState("intx");
    const { home, bottle, dir } = fixture;
    const before = await snapshotTree(dir);
    await using shim = await dockerShim(["save"], true);
    await using tmp = await privateTmp();
    const out = join(home.home, "out.bottle");
    const run = await interruptWhen(
      startCli(["export", bottle.slug, "-o", out], { ...home.env, ...shim.env, TMPDIR: tmp.path }),
      shim.reached,
      "SIGTERM",
    );
    equal(run.code, 143, run.stderr);
    equal(await Deno.lstat(out).then(() => true, () => false), false);
    deepStrictEqual(await leftoverTempDirs(tmp.path), []);
    deepStrictEqual(await snapshotTree(dir), before);
    await assertConsistent(dir, bottle.slug);
  },
);

dockerTest(
  "SIGINT once an import's image is loaded: exit 130, the loaded image removed, no bottle made",
  async () => {
    await using fixture = await bottleWithState("inti");
    const { home, bottle } = fixture;
    const file = join(home.home, "moved.bottle");
    equal((await runCli(["export", bottle.slug, "-o", file], home.env)).code, 0);
    // As on another machine: the bottle and its images are gone here.
    equal((await runCli(["destroy", bottle.slug, "--yes"], home.env)).code, 0);
    const copy = testSlug("copy");
    try {
      await using shim = await dockerShim(["load"], true);
      await using tmp = await privateTmp();
      const run = await interruptWhen(
        startCli(["import", file, "--name", copy], { ...home.env, ...shim.env, TMPDIR: tmp.path }),
        shim.reached,
        "SIGINT",
      );
      equal(run.code, 130, run.stderr);
      equal(await Deno.lstat(home.stateDir(copy)).then(() => true, () => false), false);
      equal(await docker("image", "ls", "-q", `bot-bottle-committed-${bottle.slug}`), "");
      equal(await docker("image", "ls", "-q", `bot-bottle-committed-${copy}`), "");
      deepStrictEqual(await leftoverTempDirs(tmp.path), []);
    } finally {
      await removeBottleObjects(copy);
    }
  },
);

dockerTest(
  "SIGINT while prune removes a snapshot: the history never names a snapshot that is gone",
  async () => {
    await using fixture = await bottleWithState("intp", 3);
    const { home, bottle, dir } = fixture;
    await using shim = await dockerShim(["image", "rm"], true);
    const run = await interruptWhen(
      startCli(["prune", bottle.slug, "--keep", "1"], { ...home.env, ...shim.env }),
      shim.reached,
      "SIGINT",
    );
    equal(run.code, 130, run.stderr);
    // Every snapshot the history still names exists; the next prune finishes the work.
    const left = await assertConsistent(dir, bottle.slug);
    equal(left.ids.length < 3, true);
    const again = await runCli(["prune", bottle.slug, "--keep", "1"], home.env);
    equal(again.code, 0, again.stderr);
    equal((await assertConsistent(dir, bottle.slug)).ids.length, 1);
  },
);

dockerTest(
  "SIGINT during a commit's automatic pruning: the commit stays recorded, and the warning says so",
  async () => {
    await using fixture = await bottleWithState("intk");
    const { home, bottle, dir } = fixture;
    await using shim = await dockerShim(["image", "rm"], true);
    const run = await interruptWhen(
      startCli(["commit", bottle.slug], {
        ...home.env,
        ...shim.env,
        BOT_BOTTLE_KEEP_SNAPSHOTS: "1",
      }),
      shim.reached,
      "SIGINT",
    );
    equal(run.code, 0, run.stderr);
    match(
      run.stderr,
      new RegExp(
        `warning: pruning old snapshots was interrupted \\(SIGINT\\); the commit itself is ` +
          `recorded, and "bot-bottle prune ${bottle.slug}" finishes the pruning\\n`,
      ),
    );
    match(run.stderr, /committed bottle/);
    const left = await assertConsistent(dir, bottle.slug);
    equal(left.ids.length, 1);
  },
);
