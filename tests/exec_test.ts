// `bot-bottle exec` on the real Docker engine, driving the CLI as a
// subprocess: the command's output and exit status pass through, stdin is
// piped through, no command is a login shell, a terminal gets a TTY, and a
// stopped bottle is refused naming resume. (Every backend runs exec in the
// contract, tests/backends/contract.ts.)

import { equal, match } from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { cliBottle, docker, dockerTest, testSlug } from "./_helpers/docker.ts";
import { hasTerminal, runOnTerminal } from "./_helpers/terminal.ts";
import { tempHome } from "./_helpers/temp_home.ts";

dockerTest("exec passes the command's stdout, stderr and exit status through", async () => {
  await using home = await tempHome();
  await using bottle = await cliBottle(testSlug("ex"), home.env);
  const run = await runCli(
    ["exec", bottle.slug, "--", "sh", "-c", "echo out; echo err >&2; exit 7"],
    home.env,
  );
  equal(run.code, 7);
  equal(run.stdout, "out\n");
  equal(run.stderr, "err\n");
  const bare = await runCli(["exec", bottle.slug, "echo", "no", "dashes"], home.env);
  equal(bare.code, 0, bare.stderr);
  equal(bare.stdout, "no dashes\n");
});

dockerTest(
  "exec without a command runs a login shell, reading stdin; no terminal, no TTY",
  async () => {
    await using home = await tempHome();
    await using bottle = await cliBottle(testSlug("ex"), home.env);
    const run = await runCli(
      ["exec", bottle.slug],
      home.env,
      "[ -t 0 ] && echo tty || echo no-tty\necho from-the-shell; exit 5\n",
    );
    equal(run.code, 5, run.stderr);
    equal(run.stdout, "no-tty\nfrom-the-shell\n");
  },
);

dockerTest("exec refuses a stopped bottle with one line naming resume", async () => {
  await using home = await tempHome();
  await using bottle = await cliBottle(testSlug("ex"), home.env);
  await docker("stop", "--time", "0", `bot-bottle-${bottle.slug}`);
  const run = await runCli(["exec", bottle.slug, "true"], home.env);
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: bottle "${bottle.slug}" is stopped; start it from its snapshot with ` +
      `"bot-bottle resume ${bottle.slug}", then exec again\n`,
  );
  equal(run.stdout, "");
});

dockerTest(
  "exec on a terminal gives the command a TTY, and the login shell is interactive",
  async () => {
    await using home = await tempHome();
    await using bottle = await cliBottle(testSlug("ex"), home.env);
    const command = await runOnTerminal(
      ["exec", bottle.slug, "--", "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo on-a-tty; exit 4"],
      home.env,
      [],
    );
    equal(command.code, 4, command.screen);
    match(command.screen, /on-a-tty/);
    const shell = await runOnTerminal(["exec", bottle.slug], home.env, [
      { prompt: "# ", keys: "echo $((6 * 7)); exit 3\r" },
    ]);
    equal(shell.code, 3, shell.screen);
    match(shell.screen, /\b42\b/);
  },
  { missing: hasTerminal ? undefined : "script (util-linux) is not installed" },
);
