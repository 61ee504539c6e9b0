// `bot-bottle ls`'s STARTED column: an age on a terminal, one format in a
// pipe whatever precision the metadata has, the value as written in --json.

import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../_helpers/cli.ts";
import { hasTerminal, runOnTerminal } from "../../_helpers/terminal.ts";
import { launcherMetadata, tempHome } from "../../_helpers/temp_home.ts";

/** A home with two bottles started 3 hours ago, one written with milliseconds, one with microseconds. */
async function twoBottles() {
  const home = await tempHome();
  const at = new Date(Date.now() - 3 * 3600_000);
  const millis = at.toISOString().replace("Z", "+00:00");
  const micros = at.toISOString().replace(/\.(\d{3})Z$/, ".$1456+00:00");
  await home.writeBottle("milli-1", launcherMetadata("milli-1", { started_at: millis }));
  await home.writeBottle("micro-1", launcherMetadata("micro-1", { started_at: micros }));
  // No engine is needed for these rows: the bottles show as unavailable.
  const env = { ...home.env, DOCKER_HOST: `unix://${join(home.home, "no-engine.sock")}` };
  return Object.assign(home, { at, millis, micros, env });
}

Deno.test("ls in a pipe shows STARTED in one format, to the second in UTC; --json as written", async () => {
  await using home = await twoBottles();
  const second = home.at.toISOString().replace(/\.\d+Z$/, "Z");
  const table = await runCli(["ls"], home.env);
  equal(table.code, 0, table.stderr);
  match(table.stdout, new RegExp(`^micro-1 .* ${second}$`, "m"));
  match(table.stdout, new RegExp(`^milli-1 .* ${second}$`, "m"));
  const json = JSON.parse((await runCli(["ls", "--json"], home.env)).stdout);
  equal(json.find((row: { slug: string }) => row.slug === "milli-1").startedAt, home.millis);
  equal(json.find((row: { slug: string }) => row.slug === "micro-1").startedAt, home.micros);
});

Deno.test({
  name: `ls on a terminal shows STARTED as an age${
    hasTerminal ? "" : " [ignored: no util-linux script]"
  }`,
  ignore: !hasTerminal,
  async fn() {
    await using home = await twoBottles();
    const run = await runOnTerminal(["ls"], home.env, []);
    equal(run.code, 0, run.screen);
    match(run.screen, /^micro-1 .* 3h ago\r?$/m);
    match(run.screen, /^milli-1 .* 3h ago\r?$/m);
  },
});
