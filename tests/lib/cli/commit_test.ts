// The picker of `bot-bottle commit` without a slug, on a real terminal,
// against real Docker bottles.

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../_helpers/cli.ts";
import { docker, dockerTest, startBottle } from "../../_helpers/docker.ts";
import { hasTerminal, runOnTerminal } from "../../_helpers/terminal.ts";
import { tempHome } from "../../_helpers/temp_home.ts";

if (hasTerminal) {
  dockerTest(
    "commit without a slug on a terminal picks from the running bottles that have state",
    async () => {
      await using home = await tempHome();
      await using running = await startBottle();
      await using stopped = await startBottle();
      await using stateless = await startBottle();
      await home.writeBottle(running.slug);
      await home.writeBottle(stopped.slug);
      await docker("stop", "--time", "0", stopped.container);

      const run = await runOnTerminal(["commit"], home.env, [
        { prompt: "Which bottle do you want to commit?", keys: "\r" },
      ]);

      equal(run.code, 0, run.screen);
      match(run.screen, new RegExp(`committed bottle "${running.slug}"`));
      ok(!run.screen.includes(stopped.slug), "a stopped bottle is not offered");
      ok(!run.screen.includes(stateless.slug), "a bottle without state is not offered");
      equal(
        await Deno.readTextFile(join(home.stateDir(running.slug), "committed-image")),
        `${running.image}\n`,
      );
    },
  );

  dockerTest(
    "commit and resume on a terminal show a live line of their phase and time; without one, or with --json, nothing",
    async () => {
      await using home = await tempHome();
      await using bottle = await startBottle();
      await home.writeBottle(bottle.slug);
      // The line appears after a second; 0 here so that a quick commit shows it too.
      const env = { ...home.env, BOT_BOTTLE_PROGRESS_AFTER_MS: "0" };

      const committed = await runOnTerminal(["commit", bottle.slug], env, []);
      equal(committed.code, 0, committed.screen);
      match(
        committed.screen,
        new RegExp(`committing ${bottle.slug}: running docker commit \\(\\d+\\.\\d s\\)`),
      );
      match(committed.screen, new RegExp(`committed bottle "${bottle.slug}"`));
      const resumed = await runOnTerminal(["resume", bottle.slug, "--replace", "--yes"], env, []);
      equal(resumed.code, 0, resumed.screen);
      match(
        resumed.screen,
        new RegExp(`resuming ${bottle.slug}: running docker \\w+ \\(\\d+\\.\\d s\\)`),
      );

      const json = await runOnTerminal(["commit", bottle.slug, "--json"], env, []);
      equal(json.code, 0, json.screen);
      ok(!json.screen.includes("committing"), json.screen);
      const piped = await runCli(["commit", bottle.slug], env);
      equal(piped.code, 0, piped.stderr);
      ok(!piped.stderr.includes("committing"), piped.stderr);
    },
  );
} else {
  Deno.test({
    name: "commit picker on a terminal [ignored: no util-linux script]",
    ignore: true,
    fn() {},
  });
}
