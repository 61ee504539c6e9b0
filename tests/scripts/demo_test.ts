// scripts/demo.ts, the README's "run it" command: it starts a bottle as the
// launcher would, writes the metadata `start` writes, and its clean-up hint
// is a bot-bottle command that works.

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cliEnv, runCli } from "../_helpers/cli.ts";
import { docker, dockerTest, removeBottleObjects, testSlug } from "../_helpers/docker.ts";
import { tempHome } from "../_helpers/temp_home.ts";

const DEMO = new URL("../../scripts/demo.ts", import.meta.url).pathname;

dockerTest(
  "the demo writes started_at as start does, and its clean-up hint is bot-bottle destroy",
  async () => {
    await using home = await tempHome();
    const slug = testSlug("demo");
    try {
      const demo = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--quiet", DEMO, slug],
        env: cliEnv(home.env),
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(demo.stderr);
      equal(demo.code, 0, said);
      ok(
        said.includes(`demo: clean up later: deno run -A main.ts destroy ${slug}\n`),
        `the hint names bot-bottle destroy:\n${said}`,
      );
      const metadata = JSON.parse(
        await Deno.readTextFile(join(home.stateDir(slug), "metadata.json")),
      );
      // As `start` and the launcher write it: microseconds and an explicit offset.
      match(metadata.started_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);

      const destroyed = await runCli(["destroy", slug, "--yes"], home.env);
      equal(destroyed.code, 0, destroyed.stderr);
      equal(await docker("ps", "-aq", "--filter", `name=^bot-bottle-${slug}$`), "");
      equal(
        await Deno.stat(home.stateDir(slug)).then(() => true, () => false),
        false,
        "the state directory is gone",
      );
    } finally {
      await removeBottleObjects(slug);
    }
  },
);
