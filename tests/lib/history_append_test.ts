// A commit adds its record to snapshots.json in place, reading no more of a
// long history than it needs; all or nothing still; a new id stays unique
// whatever the clock did; a history in another layout is rewritten whole once;
// and a file whose addition was cut short (a torn tail, written here the way
// an interrupted write leaves it) keeps every whole record, with a warning.

import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import type { Agent } from "../../lib/state/agent.ts";
import { BackendCommands } from "../../lib/registry/backend_commands.ts";
import { BottleState } from "../../lib/state/bottle_state.ts";
import { BadInputError, BotBottleError } from "../../lib/errors.ts";
import { type FreezeContext, Freezer, type Frozen } from "../../lib/freezer.ts";
import { DockerBackend } from "../../backends/docker.ts";
import { emptyRunConfig } from "../../lib/state/run_config.ts";
import {
  type History,
  snapshotIdBase,
  type SnapshotRecord,
} from "../../lib/state/snapshot_history.ts";
import { historyText } from "../../lib/_internal/state_text.ts";
import { writeFilesTogether } from "../../lib/state/atomic_write.ts";
import { launcherMetadata, snapshotTree, tempHome } from "../_helpers/temp_home.ts";
import { fill, mountTest, tmpfs } from "../_helpers/faults.ts";
import { present } from "../_helpers/present.ts";
import { cliEnv, MAIN, runCli } from "../_helpers/cli.ts";

const SLUG = "dev-hist1";

/** A freezer whose snapshot is the test's; it records what each freeze was given. */
class TestFreezer extends Freezer<DockerBackend> {
  contexts: FreezeContext[] = [];
  behaviour: (agent: Agent) => Frozen = (agent) => ({
    artifact: `fake-committed-${agent.slug}:latest`,
  });

  protected override freeze(agent: Agent, context: FreezeContext): Promise<string | Frozen> {
    this.contexts.push(context);
    return Promise.resolve(this.behaviour(agent));
  }
}

function testFreezer(lines: string[] = []): TestFreezer {
  return new TestFreezer(
    new DockerBackend({
      backend: "fake",
      names: ["fake", ""],
      commands: new BackendCommands("fake", {}),
    }, { log: (line) => lines.push(line) }),
  );
}

async function agentFor(root: string, warnings: string[] = []): Promise<Agent> {
  const state = new BottleState(SLUG, root);
  state.warn = (line) => warnings.push(line);
  const metadata = await state.readMetadata();
  return { slug: SLUG, backend: metadata.backend ?? "", metadata, state };
}

function record(id: string, extra: Partial<SnapshotRecord> = {}): SnapshotRecord {
  return {
    id,
    createdAt: "2020-01-01T00:00:00.000Z",
    backend: "fake",
    artifact: `fake-committed-${SLUG}:${id}`,
    sizeBytes: 1024,
    parent: null,
    toolVersion: "0.1.0",
    message: null,
    mode: "disk",
    ...extra,
  };
}

function history(count: number, resumedFrom: string | null = null): History {
  const snapshots = Array.from({ length: count }, (_, n) => record(`20200101T000000Z-${n + 1}`));
  return { version: 1, resumedFrom, snapshots };
}

/** A bottle whose snapshots.json is `text`, written as bot-bottle writes it (mode 0600). */
async function bottleWithHistory(text: string) {
  const home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const file = join(dir, "snapshots.json");
  await Deno.writeTextFile(file, text, { mode: 0o600 });
  return { home, dir, file };
}

Deno.test("a commit adds its record to a long history in place, leaving every byte before the closing ]} as it was", async () => {
  const before = historyText(history(10_000, "20200101T000000Z-7"));
  const { home, file } = await bottleWithHistory(before);
  await using _home = home;
  const inode = (await Deno.stat(file)).ino;
  const freezer = testFreezer();
  const result = await freezer.commit(await agentFor(home.root), { keep: 0 });

  const after = await Deno.readTextFile(file);
  equal(after.slice(0, before.length - 3), before.slice(0, -3));
  match(
    after.slice(before.length - 3),
    new RegExp(`^,\\{"id":"${result.snapshotId}",.*\\}\\n\\]\\}\\n$`),
  );
  equal((await Deno.stat(file)).ino, inode, "the file was added to, not replaced");
  const read = await new BottleState(SLUG, home.root).readHistory("fake");
  equal(read.snapshots.length, 10_001);
  const newest = present(read.snapshots.at(-1), "the new record");
  equal(newest.id, result.snapshotId);
  equal(newest.parent, "20200101T000000Z-7");
  equal(read.resumedFrom, "20200101T000000Z-7");
  // The freeze was told the newest snapshot; the earlier ones when it asks for them.
  const context = present(freezer.contexts[0], "a freeze");
  equal(context.previous, `fake-committed-${SLUG}:20200101T000000Z-10000`);
  equal(context.earlier.length, 10_000);
  equal(context.earlier[0], `fake-committed-${SLUG}:20200101T000000Z-1`);
});

Deno.test("a commit adds the first record of an empty history in place, without a separator", async () => {
  const { home, file } = await bottleWithHistory(historyText(history(0)));
  await using _home = home;
  const result = await testFreezer().commit(await agentFor(home.root), { keep: 0 });
  const text = await Deno.readTextFile(file);
  match(
    text,
    new RegExp(
      `^\\{"version":1,"resumedFrom":null,"snapshots":\\[\\n\\{"id":"${result.snapshotId}",`,
    ),
  );
  deepStrictEqual(
    JSON.parse(text).snapshots.map((each: SnapshotRecord) => each.id),
    [result.snapshotId],
  );
});

Deno.test("writeFilesTogether() puts back the end it changed in place when a later file fails", async () => {
  const text = historyText(history(50));
  const { home, file } = await bottleWithHistory(text);
  await using _home = home;
  const info = await Deno.stat(file);
  const encoder = new TextEncoder();
  const added = encoder.encode(`,${JSON.stringify(record("20261206T071500Z"))}\n]}\n`);
  const size = encoder.encode(text).byteLength;
  await rejects(
    writeFilesTogether([
      {
        path: file,
        splice: { at: size - 3, content: added, old: encoder.encode("]}\n"), read: info },
      },
      // Its directory does not exist: this write fails after the addition was made.
      { path: join(home.home, "missing", "committed-image"), content: "x\n" },
    ]),
    Deno.errors.NotFound,
  );
  equal(await Deno.readTextFile(file), text);
  equal((await Deno.stat(file)).ino, info.ino);
  // And an addition to a file that changed since it was read is refused, writing nothing.
  await Deno.writeTextFile(file, text + " ");
  await rejects(
    writeFilesTogether([{
      path: file,
      splice: { at: size - 3, content: added, old: encoder.encode("]}\n"), read: info },
    }]),
    (error: unknown) =>
      error instanceof BadInputError && /was changed or replaced/.test(error.message),
  );
  equal(await Deno.readTextFile(file), text + " ");
});

Deno.test(
  mountTest(
    "a full disk after the record was added in place: snapshots.json gets its old end back, byte for byte",
    async () => {
      await using disk = await tmpfs(256 * 1024);
      const root = join(disk.path, ".bot-bottle");
      const dir = join(root, "state", SLUG);
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(
        join(dir, "metadata.json"),
        JSON.stringify(launcherMetadata(SLUG, { backend: "fake" })),
      );
      // Three records fill less than the file's one page, so the addition needs no more room:
      // it is written, and the run configuration after it is what finds the disk full.
      const file = join(dir, "snapshots.json");
      await Deno.writeTextFile(file, historyText(history(3)), { mode: 0o600 });
      ok((await Deno.stat(file)).size < 2048);
      await fill(disk.path);
      const inode = (await Deno.stat(file)).ino;
      const before = await snapshotTree(dir);
      const freezer = testFreezer();
      freezer.behaviour = (agent) => ({
        artifact: `fake-committed-${agent.slug}:latest`,
        runConfig: emptyRunConfig(),
      });
      await rejects(freezer.commit(await agentFor(root), { keep: 0 }), (error: unknown) => {
        ok(error instanceof BotBottleError);
        match(error.message, /^recording the snapshot in .* failed \(No space left on device/);
        return true;
      });
      deepStrictEqual(await snapshotTree(dir), before);
      equal((await Deno.stat(file)).ino, inode);
    },
  ),
);

Deno.test("a new id stays unique when the clock went back: ids of its second anywhere in the history count, ids in notes do not", async () => {
  // The newest record is old; this minute's ids sit in the middle, as after a clock set back.
  const now = Date.now();
  const seconds = Array.from({ length: 60 }, (_, n) => snapshotIdBase(new Date(now + n * 1000)));
  const taken = seconds.flatMap((base) => [
    record(base),
    record(`${base}-2`, { message: `{"id":"${base}-3"} "id":"${base}-3"` }),
  ]);
  const text = historyText({
    version: 1,
    resumedFrom: null,
    snapshots: [record("20200101T000000Z-1"), ...taken, record("20200101T000000Z-2")],
  });
  ok(text.includes(`\\"id\\":\\"${seconds[0]}-3\\"`), "the notes name the -3 ids, escaped");
  const { home } = await bottleWithHistory(text);
  await using _home = home;
  const result = await testFreezer().commit(await agentFor(home.root), { keep: 0 });
  ok(seconds.some((base) => result.snapshotId === `${base}-3`), result.snapshotId);
});

Deno.test("a history in another layout (0.1's indented JSON, a compact line) is rewritten whole once, then added to in place", async () => {
  const old = history(3);
  const layouts = [
    // 0.1: indented, its fields in another order.
    JSON.stringify({ version: 1, snapshots: old.snapshots, resumedFrom: null }, null, 2) + "\n",
    JSON.stringify(old),
  ];
  for (const layout of layouts) {
    const { home, file } = await bottleWithHistory(layout);
    await using _home = home;
    const first = await testFreezer().commit(await agentFor(home.root), { keep: 0 });
    const rewritten = await Deno.readTextFile(file);
    const whole = await new BottleState(SLUG, home.root).readHistory("fake");
    equal(rewritten, historyText(whole));
    deepStrictEqual(whole.snapshots.map((each) => each.id), [
      ...old.snapshots.map((each) => each.id),
      first.snapshotId,
    ]);
    const inode = (await Deno.stat(file)).ino;
    const second = await testFreezer().commit(await agentFor(home.root), { keep: 0 });
    equal((await Deno.stat(file)).ino, inode);
    const text = await Deno.readTextFile(file);
    equal(text.slice(0, rewritten.length - 3), rewritten.slice(0, -3));
    equal(
      (await new BottleState(SLUG, home.root).readHistory("fake")).snapshots.at(-1)?.id,
      second.snapshotId,
    );
  }
});

Deno.test("a snapshots.json linked elsewhere, or readable by others, is rewritten whole, never added to in place", async () => {
  for (const how of ["hard link", "mode 0644"]) {
    const text = historyText(history(3));
    const { home, dir, file } = await bottleWithHistory(text);
    await using _home = home;
    const other = join(home.home, "elsewhere.json");
    if (how === "hard link") await Deno.link(file, other);
    else await Deno.chmod(file, 0o644);
    const inode = (await Deno.stat(file)).ino;
    await testFreezer().commit(await agentFor(home.root), { keep: 0 });
    ok((await Deno.stat(file)).ino !== inode, how);
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    if (how === "hard link") equal(await Deno.readTextFile(other), text);
    equal(
      (await new BottleState(SLUG, home.root).readHistory("fake")).snapshots.length,
      4,
      dir,
    );
  }
});

/**
 * Every way an addition of `line` to `text` can be cut short: the first `k`
 * bytes of the new end written, over the old `]}\n` (what is left of it
 * still there) or followed by zeros (a disk that lost the rest).
 */
function tornFiles(text: string, line: string): { name: string; bytes: Uint8Array }[] {
  const encoder = new TextEncoder();
  const kept = encoder.encode(text.slice(0, -3));
  const added = encoder.encode(`${line}]}\n`);
  const old = encoder.encode("]}\n");
  const files = [];
  for (let k = 1; k < added.length; k++) {
    const over = new Uint8Array([...kept, ...added.subarray(0, k), ...old.subarray(k)]);
    files.push({ name: `${k} bytes over ]}`, bytes: over });
    const zeros = new Uint8Array(kept.length + added.length);
    zeros.set(kept);
    zeros.set(added.subarray(0, k), kept.length);
    files.push({ name: `${k} bytes, then zeros`, bytes: zeros });
  }
  files.push({ name: "cut at the last record", bytes: kept });
  return files;
}

Deno.test("a snapshots.json whose addition was cut short keeps every whole record, says so, and the next commit writes it whole again", async () => {
  const old = history(3, "20200101T000000Z-2");
  const text = historyText(old);
  const line = `,${
    JSON.stringify(record("20261206T071500Z", { message: "a note, with ]} in it" }))
  }\n`;
  const { home, file } = await bottleWithHistory("");
  await using _home = home;
  for (const { name, bytes } of tornFiles(text, line)) {
    await Deno.writeFile(file, bytes, { mode: 0o600 });
    let valid = true;
    try {
      JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      valid = false;
    }
    const warnings: string[] = [];
    const agent = await agentFor(home.root, warnings);
    const read = await agent.state.readHistory("fake");
    const ids = read.snapshots.map((each) => each.id);
    const whole = old.snapshots.map((each) => each.id);
    // The new record counts once its line is whole.
    ok(
      ids.length === 3 ? true : ids.at(-1) === "20261206T071500Z" && ids.length === 4,
      `${name}: ${ids}`,
    );
    deepStrictEqual(ids.slice(0, 3), whole, name);
    equal(read.resumedFrom, "20200101T000000Z-2", name);
    equal(warnings.length, valid ? 0 : 1, `${name}: ${warnings}`);
    if (!valid) {
      match(
        present(warnings[0]),
        new RegExp(
          `^warning: .*snapshots\\.json was cut short while a commit added a snapshot to it ` +
            `\\(a crash, or a full disk\\); its ${ids.length} whole snapshots are read.*, and the ` +
            `next commit, prune or resume writes the file whole again$`,
        ),
        name,
      );
    }
    // The next commit writes the file whole again, valid, with every whole record and its own.
    const result = await testFreezer().commit(agent, { keep: 0 });
    const repaired = JSON.parse(await Deno.readTextFile(file));
    deepStrictEqual(
      repaired.snapshots.map((each: SnapshotRecord) => each.id),
      [...ids, result.snapshotId],
      name,
    );
  }
});

Deno.test("damage that is not a cut-short addition is refused as before, not recovered", async () => {
  const text = historyText(history(5));
  const lines = text.split("\n");
  const cases = {
    "a broken record in the middle": [...lines.slice(0, 2), '{"id":', ...lines.slice(3)].join("\n"),
    "two lines of junk at the end": text.slice(0, -3) + ",{junk\nmore junk\n",
    "a record without its separator": [...lines.slice(0, 3), lines[3]!.slice(1), ...lines.slice(4)]
      .join("\n"),
    "another first line": text.replace('"resumedFrom":null', '"resumedFrom":7'),
  };
  for (const [name, damaged] of Object.entries(cases)) {
    const { home } = await bottleWithHistory(damaged);
    await using _home = home;
    const warnings: string[] = [];
    const agent = await agentFor(home.root, warnings);
    await rejects(agent.state.readHistory("fake"), (error: unknown) => {
      ok(error instanceof BadInputError, name);
      match(error.message, /snapshots\.json (is not a valid|is not valid JSON)/, name);
      return true;
    });
    deepStrictEqual(warnings, [], name);
  }
});

Deno.test("a commit refuses a history whose last record is not UTF-8, as a whole read does, changing nothing", async () => {
  const text = historyText(history(3, "20200101T000000Z-1"));
  const { home, file } = await bottleWithHistory("");
  await using _home = home;
  const bytes = new TextEncoder().encode(
    text.replace(
      '"message":null,"mode":"disk"}\n]}',
      '"message":"\u00e9","mode":"disk"}\n]}',
    ),
  );
  // The é's second byte dropped: a byte that is not UTF-8.
  const broken = bytes.indexOf(0xc3);
  ok(broken > text.length - 40);
  await Deno.writeFile(
    file,
    new Uint8Array([...bytes.subarray(0, broken + 1), ...bytes.subarray(broken + 2)]),
    {
      mode: 0o600,
    },
  );
  const before = await snapshotTree(home.home);
  await rejects(testFreezer().commit(await agentFor(home.root), { keep: 0 }), (error: unknown) => {
    ok(error instanceof BadInputError);
    match(error.message, /snapshots\.json is not UTF-8 text; fix or restore the file$/);
    return true;
  });
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("snapshots --json prints 10,000 snapshots, and ends quietly when its reader stops early", async () => {
  const { home } = await bottleWithHistory(historyText(history(10_000)));
  await using _home = home;
  const listed = await runCli(["snapshots", SLUG, "--json"], home.env);
  equal(listed.code, 0, listed.stderr);
  equal(JSON.parse(listed.stdout).length, 10_000);
  // A reader that reads one chunk and goes away (`| head -c 100`): exit 0, nothing on stderr.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, "snapshots", SLUG, "--json"],
    env: cliEnv(home.env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  ok(!first.done && first.value.length > 0);
  await reader.cancel();
  const stderr = await new Response(child.stderr).text();
  equal((await child.status).code, 0, stderr);
  equal(stderr, "");
});

const APPENDER = new URL("../_fixtures/append_records.ts", import.meta.url).pathname;

Deno.test("a process killed (SIGKILL) while it records snapshot after snapshot loses none it recorded", async () => {
  for (const after of [3, 30, 90]) {
    await using home = await tempHome();
    await home.writeBottle(SLUG, launcherMetadata(SLUG));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", APPENDER, home.root, SLUG],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // Each id is printed once its recording returned; the kill lands wherever the next one is.
    const recorded: string[] = [];
    let pending = "";
    let killed = false;
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      recorded.push(...lines);
      if (!killed && recorded.length >= after) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
    equal((await child.status).signal, "SIGKILL");
    const warnings: string[] = [];
    const state = new BottleState(SLUG, home.root);
    state.warn = (line) => warnings.push(line);
    const ids = (await state.readHistory("docker")).snapshots.map((record) => record.id);
    // Every recorded one, in order; at most the one being recorded besides.
    deepStrictEqual(ids.slice(0, recorded.length), recorded, `killed after ${after}`);
    ok(ids.length <= recorded.length + 1, `${ids.length} read, ${recorded.length} recorded`);
    // And the history takes the next commit, valid JSON again.
    const next = await state.readRecentHistory("docker");
    await state.recordCommit({
      history: next.adding(record("20310101T000000Z")),
      committedImage: `bot-bottle-committed-${SLUG}:latest`,
    });
    const text = await Deno.readTextFile(join(home.stateDir(SLUG), "snapshots.json"));
    equal(JSON.parse(text).snapshots.length, ids.length + 1, warnings.join("\n"));
  }
});
