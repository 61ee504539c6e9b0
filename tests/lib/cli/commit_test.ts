// The picker of `bot-bottle commit` without a slug, on a real terminal,
// against real Docker bottles.

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
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
} else {
  Deno.test({
    name: "commit picker on a terminal [ignored: no util-linux script]",
    ignore: true,
    fn() {},
  });
}
