// A long history never locks a bottle out: with retention off, 10,000
// snapshots (a commit every 5 minutes for five weeks) still commit, list,
// resume --at and prune, though snapshots.json is far past the 1 MiB of the
// other state files; and the commit that would grow it past what bot-bottle
// reads back is refused with a message to prune, changing nothing.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../_helpers/cli.ts";
import { bottleWithState, docker, dockerTest } from "../_helpers/docker.ts";
import { snapshotTree } from "../_helpers/temp_home.ts";
import { MAX_HISTORY_FILE_BYTES } from "../../lib/state/bottle_state.ts";
import type { History, SnapshotRecord } from "../../lib/state/snapshot_history.ts";
import { present } from "../_helpers/present.ts";

/** `count` older records before the bottle's real ones, with `message` as their note. */
async function padHistory(dir: string, count: number, message: string | null = null) {
  const file = join(dir, "snapshots.json");
  const history: History = JSON.parse(await Deno.readTextFile(file));
  const real = present(history.snapshots[0], "a snapshot");
  const older: SnapshotRecord[] = Array.from({ length: count }, (_, n) => ({
    ...real,
    id: `20200101T000000Z-${n + 1}`,
    parent: n === 0 ? null : `20200101T000000Z-${n}`,
    message,
  }));
  history.snapshots = [...older, ...history.snapshots];
  await Deno.writeTextFile(file, JSON.stringify(history));
  return file;
}

dockerTest(
  "10,000 snapshots: commit, snapshots, resume --at and prune --dry-run all work",
  async () => {
    await using setup = await bottleWithState("long", 1);
    const { home, bottle, dir } = setup;
    const env = { ...home.env, BOT_BOTTLE_KEEP_SNAPSHOTS: "0" };
    const file = await padHistory(dir, 9_999);
    ok((await Deno.stat(file)).size > 1024 * 1024);

    const committed = await runCli(["commit", bottle.slug, "--json"], env);
    equal(committed.code, 0, committed.stderr);
    ok((await Deno.stat(file)).size < 10_001 * 300, "snapshots.json is written compact");
    const listed = await runCli(["snapshots", bottle.slug, "--json"], env);
    equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout);
    equal(rows.length, 10_001);

    const resumed = await runCli([
      "resume",
      bottle.slug,
      "--at",
      "~1",
      "--replace",
      "--yes",
      "--json",
    ], env);
    equal(resumed.code, 0, resumed.stderr);
    const pruned = await runCli(["prune", bottle.slug, "--keep", "2", "--dry-run", "--json"], env);
    equal(pruned.code, 0, pruned.stderr);
    equal(JSON.parse(pruned.stdout)[0].removed.length, 9_999);
  },
);

dockerTest(
  "a commit that would grow snapshots.json past what bot-bottle reads is refused, changing nothing",
  async () => {
    await using setup = await bottleWithState("full", 1);
    const { home, bottle, dir } = setup;
    const env = { ...home.env, BOT_BOTTLE_KEEP_SNAPSHOTS: "0" };
    // Four records of long notes bring the file to within 40 KiB of the limit.
    const note = "x".repeat(Math.floor((MAX_HISTORY_FILE_BYTES - 40 * 1024) / 4));
    const file = await padHistory(dir, 4, note);
    ok(MAX_HISTORY_FILE_BYTES - (await Deno.stat(file)).size < 50 * 1024);
    const images = await docker("images", "-q", `bot-bottle-committed-${bottle.slug}`);
    const before = await snapshotTree(home.root);

    const refused = await runCli(["commit", bottle.slug, "-m", "y".repeat(100 * 1024)], env);
    equal(refused.code, 1);
    match(
      refused.stderr,
      new RegExp(
        `bottle "${bottle.slug}" has too many snapshots: .*; nothing was changed\\. Remove old ` +
          `snapshots first: bot-bottle prune ${bottle.slug} --keep 1000\\n`,
      ),
    );
    deepStrictEqual(await snapshotTree(home.root), before);
    equal(await docker("images", "-q", `bot-bottle-committed-${bottle.slug}`), images);
    // The bottle still reads: the history lists as it was.
    const listed = await runCli(["snapshots", bottle.slug, "--json"], env);
    equal(listed.code, 0, listed.stderr);
    equal(JSON.parse(listed.stdout).length, 5);
  },
);
