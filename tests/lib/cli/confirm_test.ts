// Confirmations in the CLI: --yes, no terminal, and a declined prompt, with
// a test backend that asks before it snapshots (tests/_fixtures).

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../_helpers/cli.ts";
import { hasTerminal, runOnTerminal } from "../../_helpers/terminal.ts";
import { launcherMetadata, snapshotTree, tempHome } from "../../_helpers/temp_home.ts";

const REGISTRY = new URL("../../_fixtures/asking_registry.json", import.meta.url).pathname;
const SLUG = "ask-m3hxd";

async function askingHome() {
  const home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "asking" }));
  return Object.assign(home, { env: { ...home.env, BOT_BOTTLE_REGISTRY: REGISTRY } });
}

Deno.test("a confirmation without a terminal and without --yes is an error telling to pass --yes", async () => {
  await using home = await askingHome();
  const before = await snapshotTree(home.home);
  const run = await runCli(["commit", SLUG], home.env);
  equal(run.code, 2);
  equal(
    run.stderr,
    `bot-bottle: error: stop bottle "${SLUG}" to snapshot it?: pass --yes to confirm ` +
      `(there is no terminal to ask on)\n`,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("--yes answers the confirmation and the commit is recorded", async () => {
  await using home = await askingHome();
  const run = await runCli(["commit", "--yes", SLUG], home.env);
  equal(run.code, 0, run.stderr);
  equal(
    await Deno.readTextFile(join(home.stateDir(SLUG), "committed-image")),
    `asking-snapshot-${SLUG}\n`,
  );
});

if (hasTerminal) {
  Deno.test("declining the confirmation cancels: one line, exit status 0, nothing written", async () => {
    await using home = await askingHome();
    const before = await snapshotTree(home.home);
    const run = await runOnTerminal(["commit", SLUG], home.env, [
      { prompt: "to snapshot it?", keys: "n\r" },
    ]);
    equal(run.code, 0, run.screen);
    match(run.screen, /bot-bottle: commit cancelled; nothing was changed/);
    deepStrictEqual(await snapshotTree(home.home), before);
  });

  Deno.test("accepting the confirmation on a terminal commits", async () => {
    await using home = await askingHome();
    const run = await runOnTerminal(["commit", SLUG], home.env, [
      { prompt: "to snapshot it?", keys: "y\r" },
    ]);
    equal(run.code, 0, run.screen);
    match(run.screen, new RegExp(`committed bottle "${SLUG}" to asking-snapshot-${SLUG}`));
  });

  Deno.test("on a terminal that reports no size, the question shows in full and is answered", async () => {
    await using home = await askingHome();
    const before = await snapshotTree(home.home);
    const run = await runOnTerminal(["commit", SLUG], home.env, [
      { prompt: "to snapshot it? [y/N]", keys: "n\r" },
    ], { cols: 0 });
    equal(run.code, 0, run.screen);
    match(run.screen, new RegExp(`stop bottle "${SLUG}" to snapshot it\\? \\[y/N\\]`));
    match(run.screen, /bot-bottle: commit cancelled; nothing was changed/);
    deepStrictEqual(await snapshotTree(home.home), before);
  });

  Deno.test("an answer that arrives in one read (a paste) is taken as typed", async () => {
    await using home = await askingHome();
    const declined = await runOnTerminal(["commit", SLUG], home.env, [
      { prompt: "to snapshot it?", keys: "n\r" },
    ], { oneRead: true });
    equal(declined.code, 0, declined.screen);
    match(declined.screen, /bot-bottle: commit cancelled; nothing was changed/);
    const accepted = await runOnTerminal(["commit", SLUG], home.env, [
      { prompt: "to snapshot it?", keys: "yes\r" },
    ], { oneRead: true });
    equal(accepted.code, 0, accepted.screen);
    match(accepted.screen, new RegExp(`committed bottle "${SLUG}"`));
  });

  Deno.test("an answer that is neither yes nor no asks again, saying which keys it takes", async () => {
    await using home = await askingHome();
    const run = await runOnTerminal(["commit", SLUG], home.env, [
      { prompt: "to snapshot it?", keys: "maybe\r" },
      { prompt: "please answer y or n [y/N]", keys: "y\r" },
    ]);
    equal(run.code, 0, run.screen);
    match(run.screen, new RegExp(`committed bottle "${SLUG}"`));
  });

  Deno.test("Ctrl-C at a question stops at once: exit 130, nothing written", async () => {
    await using home = await askingHome();
    const before = await snapshotTree(home.home);
    const run = await runOnTerminal(["commit", SLUG], home.env, [
      { prompt: "to snapshot it?", keys: "\x03" },
    ]);
    equal(run.code, 130, run.screen);
    deepStrictEqual(await snapshotTree(home.home), before);
  });
} else {
  Deno.test({
    name: "confirmations on a terminal [ignored: no util-linux script]",
    ignore: true,
    fn() {},
  });
}
