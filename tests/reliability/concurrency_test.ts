// Several bot-bottle processes at once: the per-bottle lock serialises the
// commands on one bottle and lets different bottles run in parallel.

import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { cliEnv, MAIN, runCli } from "../_helpers/cli.ts";
import { assertConsistent } from "../_helpers/consistency.ts";
import { docker, dockerTest, startBottle, testSlug } from "../_helpers/docker.ts";
import { tempHome } from "../_helpers/temp_home.ts";
import { present } from "../_helpers/present.ts";

const HOLDER = new URL("../_fixtures/hold_lock.ts", import.meta.url).pathname;

dockerTest(
  "8 parallel commits of one bottle all land, one after another, in one consistent history",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle(testSlug("par"));
    const dir = await home.writeBottle(bottle.slug);
    const runs = await Promise.all(
      Array.from(
        { length: 8 },
        (_, n) => runCli(["commit", bottle.slug, "-m", `run ${n}`, "--json"], home.env),
      ),
    );
    for (const run of runs) equal(run.code, 0, run.stderr);
    const ids = runs.map((run) => JSON.parse(run.stdout).snapshotId);
    equal(new Set(ids).size, 8);
    // Each waited for the one before it: some said so, on stderr, --json or not.
    equal(runs.some((run) => /is busy: pid \d+ is running "commit"/.test(run.stderr)), true);
    const record = await assertConsistent(dir, bottle.slug);
    equal(record.ids.length, 8);
    const history = JSON.parse(await Deno.readTextFile(join(dir, "snapshots.json")));
    const messages = history.snapshots.map((record: { message: string }) => record.message).sort();
    equal(messages.join(","), Array.from({ length: 8 }, (_, n) => `run ${n}`).join(","));
  },
);

dockerTest("8 parallel commits of 8 bottles run side by side, each consistent", async () => {
  await using home = await tempHome();
  const bottles = await Promise.all(
    Array.from({ length: 8 }, () => startBottle(testSlug("par8"))),
  );
  try {
    const dirs = await Promise.all(bottles.map((bottle) => home.writeBottle(bottle.slug)));
    await Promise.all(bottles.map((bottle, n) => bottle.exec("sh", "-c", `echo ${n} > /mark`)));
    const runs = await Promise.all(
      bottles.map((bottle) => runCli(["commit", bottle.slug], home.env)),
    );
    for (const run of runs) {
      equal(run.code, 0, run.stderr);
      equal(/is busy/.test(run.stderr), false, "a bottle waited for another");
    }
    for (const [n, bottle] of bottles.entries()) {
      const record = await assertConsistent(present(dirs[n]), bottle.slug);
      equal(record.ids.length, 1);
      equal(await docker("run", "--rm", bottle.image, "cat", "/mark"), String(n));
    }
  } finally {
    await Promise.all(bottles.map((bottle) => bottle[Symbol.asyncDispose]()));
  }
});

dockerTest(
  "commit --no-wait fails at once naming the process that works on the bottle; without it, commit waits",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle(testSlug("wait"));
    const dir = await home.writeBottle(bottle.slug);
    const holder = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", HOLDER, home.root, bottle.slug, "resume"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    equal((await reader.read()).value?.trim(), "locked");
    const input = holder.stdin.getWriter();
    try {
      const refused = await runCli(["commit", bottle.slug, "--no-wait"], home.env);
      equal(refused.code, 1);
      match(
        refused.stderr,
        new RegExp(
          `^bot-bottle: error: bottle "${bottle.slug}" is busy: pid ${holder.pid} is running ` +
            `"resume" on it \\(since [^)]+\\); try again when it has finished, or leave out ` +
            `--no-wait to wait for it\\n$`,
        ),
      );
      const waiting = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", MAIN, "commit", bottle.slug],
        env: cliEnv(home.env),
        clearEnv: true,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let stderr = "";
      const errors = waiting.stderr.pipeThrough(new TextDecoderStream()).getReader();
      while (!stderr.includes("waiting for it to finish")) {
        const { value, done } = await errors.read();
        if (done) break;
        stderr += value;
      }
      match(stderr, new RegExp(`is busy: pid ${holder.pid} is running "resume"`));
      equal(await Deno.lstat(join(dir, "committed-image")).then(() => true, () => false), false);
      await input.close();
      await holder.status;
      const status = await waiting.status;
      errors.releaseLock();
      await waiting.stderr.cancel().catch(() => {});
      equal(status.code, 0);
      equal((await assertConsistent(dir, bottle.slug)).ids.length, 1);
    } finally {
      await input.close().catch(() => {});
      await holder.status;
    }
  },
);

dockerTest(
  "prune --all --no-wait skips a busy bottle, saying so, and prunes the others",
  async () => {
    await using home = await tempHome();
    await home.writeBottle("busy-1");
    await home.writeBottle("idle-1");
    const holder = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", HOLDER, home.root, "busy-1", "commit"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    equal((await reader.read()).value?.trim(), "locked");
    const input = holder.stdin.getWriter();
    try {
      const run = await runCli(["prune", "--all", "--no-wait"], home.env);
      equal(run.code, 0, run.stderr);
      match(
        run.stderr,
        new RegExp(
          `^skipped busy-1: bottle "busy-1" is busy: pid ${holder.pid} is running "commit"`,
          "m",
        ),
      );
      match(run.stderr, /^idle-1: nothing to prune$/m);
    } finally {
      await input.close();
      await holder.status;
      reader.releaseLock();
      await holder.stdout.cancel().catch(() => {});
    }
  },
);
