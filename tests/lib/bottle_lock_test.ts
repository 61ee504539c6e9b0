import { deepStrictEqual, equal, match, rejects } from "node:assert/strict";
import { join } from "node:path";
import { LOCK_FILE, lockBottle } from "../../lib/state/bottle_lock.ts";
import { BottleState } from "../../lib/state/bottle_state.ts";
import { BottleBusyError } from "../../lib/errors.ts";
import { launcherMetadata, snapshotTree, tempHome } from "../_helpers/temp_home.ts";
import { present } from "../_helpers/present.ts";

const SLUG = "dev-abc12";
const HOLDER = new URL("../_fixtures/hold_lock.ts", import.meta.url).pathname;

/** Another process holding the bottle's lock until `release()` (or a kill). */
async function holdInAnotherProcess(root: string, slug: string, operation: string, shared = "") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", HOLDER, root, slug, operation, shared],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  equal(value?.trim(), "locked");
  reader.releaseLock();
  const writer = child.stdin.getWriter();
  return {
    pid: child.pid,
    async release() {
      await writer.close();
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
    async kill() {
      child.kill("SIGKILL");
      await child.status;
      await writer.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
    },
  };
}

Deno.test("lockBottle() waits for another process's lock, saying once whom it waits for", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const other = await holdInAnotherProcess(home.root, SLUG, "commit");
  const lines: string[] = [];
  let acquired = false;
  const waiting = lockBottle(new BottleState(SLUG, home.root), "resume", {
    log: (line) => lines.push(line),
  }).then((lock) => {
    acquired = true;
    return lock;
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  equal(acquired, false);
  await other.release();
  const lock = await waiting;
  equal(acquired, true);
  equal(lines.length, 1);
  match(
    present(lines[0]),
    new RegExp(
      `^bottle "${SLUG}" is busy: pid ${other.pid} is running "commit" on it \\(since .+\\); ` +
        `waiting for it to finish$`,
    ),
  );
  await lock.release();
});

Deno.test("lockBottle() with wait: false fails at once, naming the holder, and changes nothing", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const other = await holdInAnotherProcess(home.root, SLUG, "destroy");
  try {
    const before = await snapshotTree(dir);
    await rejects(
      lockBottle(new BottleState(SLUG, home.root), "commit", { wait: false }),
      (error: unknown) => {
        if (!(error instanceof BottleBusyError)) return false;
        match(
          error.message,
          new RegExp(
            `^bottle "${SLUG}" is busy: pid ${other.pid} is running "destroy" on it ` +
              `\\(since .+\\); try again when it has finished, or leave out --no-wait to wait for it$`,
          ),
        );
        equal(error.slug, SLUG);
        equal(error.holder, `pid ${other.pid} running "destroy"`);
        return true;
      },
    );
    deepStrictEqual(await snapshotTree(dir), before);
  } finally {
    await other.release();
  }
});

Deno.test("a lock is released when its process dies, even by SIGKILL: nothing goes stale", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const other = await holdInAnotherProcess(home.root, SLUG, "commit");
  await other.kill();
  // The dead holder's lock file is still there, naming it; the lock is not.
  const lock = await lockBottle(new BottleState(SLUG, home.root), "commit", { wait: false });
  await lock.release();
});

Deno.test("shared locks run side by side, and an exclusive lock waits for them", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const state = new BottleState(SLUG, home.root);
  const reader = await holdInAnotherProcess(home.root, SLUG, "export", "shared");
  const second = await lockBottle(state, "export", { shared: true, wait: false });
  await rejects(lockBottle(state, "commit", { wait: false }), BottleBusyError);
  await second.release();
  await rejects(lockBottle(state, "commit", { wait: false }), BottleBusyError);
  await reader.release();
  const writer = await lockBottle(state, "commit", { wait: false });
  await rejects(lockBottle(state, "export", { shared: true, wait: false }), BottleBusyError);
  await writer.release();
});

Deno.test("different bottles never wait for each other", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG));
  await home.writeBottle("other-1", launcherMetadata("other-1"));
  const other = await holdInAnotherProcess(home.root, SLUG, "commit");
  try {
    const lock = await lockBottle(new BottleState("other-1", home.root), "commit", { wait: false });
    await lock.release();
  } finally {
    await other.release();
  }
});

Deno.test("a released lock leaves the state directory as it was", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const before = await snapshotTree(dir);
  const lock = await lockBottle(new BottleState(SLUG, home.root), "commit");
  const info = await Deno.lstat(join(dir, LOCK_FILE));
  equal(info.mode! & 0o777, 0o600);
  const holder = JSON.parse(await Deno.readTextFile(join(dir, LOCK_FILE)));
  equal(holder.pid, Deno.pid);
  equal(holder.operation, "commit");
  await lock.release();
  await lock.release(); // twice is harmless
  deepStrictEqual(await snapshotTree(dir), before);
});

Deno.test("a lock waiting on a file its holder removed takes the lock anew", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const state = new BottleState(SLUG, home.root);
  // Many rounds of lock/release from two sides: never two holders at once.
  let holders = 0;
  let most = 0;
  const worker = async () => {
    for (let round = 0; round < 15; round++) {
      const lock = await lockBottle(state, "commit");
      holders++;
      most = Math.max(most, holders);
      await new Promise((resolve) => setTimeout(resolve, 5));
      holders--;
      await lock.release();
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  equal(most, 1);
});

Deno.test("lockBottle() refuses a lock file that is a symlink, and a bottle with no state", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const target = join(home.home, "target");
  await Deno.writeTextFile(target, "keep me");
  await Deno.symlink(target, join(dir, LOCK_FILE));
  await rejects(lockBottle(new BottleState(SLUG, home.root), "commit"), {
    name: "BadInputError",
    message: `${join(dir, LOCK_FILE)} is a symlink; bot-bottle does not follow it: remove it ` +
      `(no bot-bottle process keeps one)`,
  });
  equal(await Deno.readTextFile(target), "keep me");
  await rejects(lockBottle(new BottleState("nobody-1", home.root), "commit"), {
    name: "BadInputError",
    message: /^bottle "nobody-1" has no state at .*; check the slug/,
  });
});

Deno.test("lockBottle() with create makes a private state directory for a new bottle", async () => {
  await using home = await tempHome();
  const state = new BottleState("new-1", home.root);
  const lock = await lockBottle(state, "import", { create: true });
  equal((await Deno.stat(state.dir)).mode! & 0o777, 0o700);
  await lock.release();
});

Deno.test("waiting for a lock stops when the signal aborts", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG));
  const other = await holdInAnotherProcess(home.root, SLUG, "commit");
  try {
    const controller = new AbortController();
    const waiting = lockBottle(new BottleState(SLUG, home.root), "commit", {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error("stopped waiting")), 200);
    await rejects(waiting, { message: "stopped waiting" });
  } finally {
    await other.release();
  }
});
