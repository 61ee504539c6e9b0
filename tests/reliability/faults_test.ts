// Engine faults, hung commands, full disks and read-only state, injected for
// real: each gives one clear error and loses nothing.

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../_helpers/cli.ts";
import { assertConsistent, leftoverTempDirs } from "../_helpers/consistency.ts";
import { bottleWithState, docker, dockerTest, startBottle, testSlug } from "../_helpers/docker.ts";
import { dockerShim, engineProxy, fill, mountTest, readOnly, tmpfs } from "../_helpers/faults.ts";
import { snapshotTree, tempHome } from "../_helpers/temp_home.ts";
import { present } from "../_helpers/present.ts";

/** The only line the CLI printed on stderr, which must be its error. */
function onlyError(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  equal(lines.length, 1, stderr);
  const line = present(lines[0], "an error line");
  match(line, /^bot-bottle: error: /);
  return line;
}

dockerTest(
  "the engine dying before the commit reaches it: one clear error, nothing made, nothing changed",
  async () => {
    await using fixture = await bottleWithState("die");
    const { home, bottle, dir } = fixture;
    const before = await snapshotTree(dir);
    await using engine = await engineProxy(/^POST \S*\/commit\?/);
    const run = await runCli(["commit", bottle.slug], { ...home.env, ...engine.env });
    equal(engine.dead, true);
    equal(run.code, 1);
    match(
      onlyError(run.stderr),
      /^bot-bottle: error: cannot reach the Docker engine \(.+\); start Docker and try again$/,
    );
    deepStrictEqual(await snapshotTree(dir), before);
    equal((await assertConsistent(dir, bottle.slug)).ids.length, 1);
  },
);

dockerTest(
  "the engine dying after the snapshot was made: the error, what was left, and prune clears it",
  async () => {
    await using fixture = await bottleWithState("die2");
    const { home, bottle, dir } = fixture;
    const before = await snapshotTree(dir);
    // docker commit goes through; the engine dies as :latest is to move to the snapshot.
    await using engine = await engineProxy(/^POST \S*\/images\/\S+\/tag\?/);
    const run = await runCli(["commit", bottle.slug], { ...home.env, ...engine.env });
    equal(engine.dead, true);
    equal(run.code, 1);
    const lines = run.stderr.trimEnd().split("\n");
    equal(lines.length, 2, run.stderr);
    match(
      present(lines[0]),
      new RegExp(
        `^warning: could not undo the half-made snapshot bot-bottle-committed-${bottle.slug}:\\S+ ` +
          `\\(cannot reach the Docker engine .+\\); "bot-bottle prune ${bottle.slug}" removes it ` +
          `once the engine answers again$`,
      ),
    );
    match(
      present(lines[1]),
      /^bot-bottle: error: cannot reach the Docker engine \(.+\); start Docker and try again$/,
    );
    deepStrictEqual(await snapshotTree(dir), before);
    // The engine is back: prune finds the snapshot no history records, and removes it.
    const pruned = await runCli(["prune", bottle.slug], home.env);
    equal(pruned.code, 0, pruned.stderr);
    match(
      pruned.stderr,
      /removed 1 snapshot\(s\) no history records, left by a failed commit or import/,
    );
    equal((await assertConsistent(dir, bottle.slug)).ids.length, 1);
  },
);

dockerTest(
  "prune repairs the worst an engine death can leave: :latest moved to a snapshot no history records",
  async () => {
    await using fixture = await bottleWithState("die3");
    const { home, bottle, dir } = fixture;
    const first = await docker("image", "inspect", "--format", "{{.Id}}", bottle.image);
    // As a commit leaves it when the engine dies after docker commit and docker tag.
    const stray = `bot-bottle-committed-${bottle.slug}:20991231T000000Z`;
    await docker(
      "commit",
      "--change",
      `LABEL bot-bottle.slug=${bottle.slug}`,
      bottle.container,
      stray,
    );
    await docker("tag", stray, bottle.image);
    const dry = await runCli(["prune", bottle.slug, "--dry-run"], home.env);
    equal(dry.code, 0, dry.stderr);
    match(dry.stderr, /would point committed-image's snapshot back at the newest one/);
    equal(
      await docker("image", "inspect", "--format", "{{.Id}}", bottle.image) === first,
      false,
    );
    const run = await runCli(["prune", bottle.slug], home.env);
    equal(run.code, 0, run.stderr);
    match(run.stderr, new RegExp(`removed 1 snapshot\\(s\\) no history records, .*\\(${stray}\\)`));
    match(run.stderr, /pointed committed-image's snapshot back at the newest one/);
    equal(await docker("image", "inspect", "--format", "{{.Id}}", bottle.image), first);
    equal((await assertConsistent(dir, bottle.slug)).ids.length, 1);
  },
);

dockerTest(
  "a docker command that hangs is stopped at its timeout, named, and nothing changes",
  async () => {
    await using fixture = await bottleWithState("hang", 0);
    const { home, bottle, dir } = fixture;
    const before = await snapshotTree(dir);
    await using shim = await dockerShim(["commit"]);
    const run = await runCli(["commit", bottle.slug], {
      ...home.env,
      ...shim.env,
      BOT_BOTTLE_LONG_TIMEOUT: "2",
    });
    equal(await shim.reached(), true);
    equal(run.code, 1);
    equal(
      onlyError(run.stderr),
      'bot-bottle: error: "docker commit" did not finish within 2 s and was stopped; the docker ' +
        "backend may be hung or overloaded: check it, or allow more time with " +
        "BOT_BOTTLE_LONG_TIMEOUT=<seconds>",
    );
    deepStrictEqual(await snapshotTree(dir), before);
    await assertConsistent(dir, bottle.slug);
  },
);

dockerTest(
  "a quick docker command that hangs gets the short timeout (resume's image check)",
  async () => {
    await using fixture = await bottleWithState("hang2");
    const { home, bottle, dir } = fixture;
    const before = await snapshotTree(dir);
    await using shim = await dockerShim(["image", "inspect"]);
    const run = await runCli(["resume", bottle.slug, "--replace", "--yes"], {
      ...home.env,
      ...shim.env,
      BOT_BOTTLE_TIMEOUT: "1",
    });
    equal(run.code, 1);
    equal(
      onlyError(run.stderr),
      'bot-bottle: error: "docker image inspect" did not finish within 1 s and was stopped; the ' +
        "docker backend may be hung or overloaded: check it, or allow more time with " +
        "BOT_BOTTLE_TIMEOUT=<seconds>",
    );
    deepStrictEqual(await snapshotTree(dir), before);
    equal(
      await docker("container", "inspect", "--format", "{{.State.Status}}", bottle.container),
      "running",
    );
  },
);

Deno.test(
  mountTest(
    "a full disk while recording a commit: the snapshot is removed again and the state is as it was",
    async () => {
      await using disk = await tmpfs(256 * 1024);
      await using home = await tempHome();
      await using bottle = await startBottle(testSlug("full"));
      const env = { ...home.env, BOT_BOTTLE_HOME: disk.path };
      const dir = join(disk.path, "state", bottle.slug);
      await Deno.mkdir(dir, { recursive: true });
      await Deno.copyFile(
        join(await home.writeBottle(bottle.slug), "metadata.json"),
        join(dir, "metadata.json"),
      );
      equal((await runCli(["commit", bottle.slug], env)).code, 0);
      const first = await docker("image", "inspect", "--format", "{{.Id}}", bottle.image);
      await bottle.exec("sh", "-c", "echo changed > /changed");
      await fill(disk.path);
      const before = await snapshotTree(dir);
      // A note of 64 KiB, so that the record cannot fit in the room the history file's last
      // page still has: a commit adds its record in place, and writes no unchanged file.
      const run = await runCli(["commit", bottle.slug, "--message", "n".repeat(65536)], env);
      equal(run.code, 1);
      match(
        onlyError(run.stderr),
        new RegExp(
          `^bot-bottle: error: recording the snapshot in ${dir} failed \\(No space left on device.*\\); ` +
            `the snapshot was removed again and the bottle's state is as it was: make room or make ` +
            `the directory writable, then commit again$`,
        ),
      );
      deepStrictEqual(await snapshotTree(dir), before);
      // :latest points at the first snapshot again, and the second left no image.
      equal(await docker("image", "inspect", "--format", "{{.Id}}", bottle.image), first);
      equal((await assertConsistent(dir, bottle.slug)).ids.length, 1);
    },
  ),
);

Deno.test(
  mountTest(
    "a full disk while writing an export: a clear error, no partial file, no temp files",
    async () => {
      await using disk = await tmpfs(256 * 1024);
      await using fixture = await bottleWithState("fullx");
      const { home, bottle, dir } = fixture;
      const temp = await Deno.makeTempDir();
      try {
        const out = join(disk.path, "out.bottle");
        const run = await runCli(["export", bottle.slug, "-o", out], { ...home.env, TMPDIR: temp });
        equal(run.code, 1);
        match(onlyError(run.stderr), /No space left on device/);
        deepStrictEqual(await Array.fromAsync(Deno.readDir(disk.path)), []);
        deepStrictEqual(await leftoverTempDirs(temp), []);
        await assertConsistent(dir, bottle.slug);
      } finally {
        await Deno.remove(temp, { recursive: true });
      }
    },
  ),
);

Deno.test(
  mountTest("a read-only state directory: commit refuses before making anything", async () => {
    await using fixture = await bottleWithState("ro", 0);
    const { home, bottle, dir } = fixture;
    const before = await snapshotTree(dir);
    {
      await using _ro = await readOnly(dir);
      const run = await runCli(["commit", bottle.slug], home.env);
      equal(run.code, 1);
      match(
        onlyError(run.stderr),
        new RegExp(
          `^bot-bottle: error: cannot lock bottle "${bottle.slug}": cannot create ${dir}/\\.lock ` +
            `\\(Read-only file system.*\\); bot-bottle changes a bottle only with its state ` +
            `directory writable: make it writable$`,
        ),
      );
    }
    deepStrictEqual(await snapshotTree(dir), before);
    await assertConsistent(dir, bottle.slug);
  }),
);
