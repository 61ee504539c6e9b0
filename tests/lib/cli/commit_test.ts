// The picker of `bot-bottle commit` without a slug, on a real terminal
// (a pseudo-terminal from util-linux `script`), against real Docker bottles.

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { docker, dockerTest, startBottle } from "../../_helpers/docker.ts";
import { tempHome } from "../../_helpers/temp_home.ts";

const MAIN = new URL("../../../main.ts", import.meta.url).pathname;
const DENO_DIR = Deno.env.get("DENO_DIR") ||
  `${Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`}/deno`;

/** Runs `bot-bottle commit` in a pseudo-terminal, pressing Enter once `prompt` shows. */
async function commitOnTerminal(env: Record<string, string>, prompt: string) {
  const inner = `stty cols 120 rows 40; exec ${Deno.execPath()} run -A --quiet ${MAIN} commit`;
  const child = new Deno.Command("script", {
    args: ["-qec", inner, "/dev/null"],
    env: { ...env, DENO_DIR, NO_COLOR: "1", TERM: "xterm" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  let screen = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      screen += decoder.decode(chunk, { stream: true });
      if (screen.includes(prompt) && writer) {
        await writer.write(new TextEncoder().encode("\r")).catch(() => {});
      }
    }
  })();
  const timer = setTimeout(() => child.kill(), 60_000);
  const status = await child.status;
  clearTimeout(timer);
  await reading;
  await writer.close().catch(() => {});
  // deno-lint-ignore no-control-regex
  return { code: status.code, screen: screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "") };
}

const hasScript = await new Deno.Command("script", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((output) => output.success, () => false);

if (hasScript) {
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

      const run = await commitOnTerminal(
        { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...home.env },
        "Which bottle do you want to commit?",
      );

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
