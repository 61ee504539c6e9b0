// Docker runs one image prune at a time, engine-wide, and refuses another
// meanwhile ("a prune operation is already running"). A bottle's snapshots are
// removed with a prune of its own images, so the destroy of one bottle must
// wait out a prune of another (or the user's own) instead of failing. A shim
// first on PATH runs the real docker, but answers the first `image prune` as
// the engine does when another prune is running.

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { docker, dockerTest, removeBottleObjects } from "../_helpers/docker.ts";
import { runCli } from "../_helpers/cli.ts";
import { bottleWithState } from "../_helpers/docker.ts";

/** A `docker` that refuses its first `image prune` as a busy engine does, then is docker. */
function busyShim(realDocker: string, marker: string): string {
  return `#!/bin/sh
if [ "$1" = image ] && [ "$2" = prune ] && [ ! -e '${marker}' ]; then
  : > '${marker}'
  echo 'Error response from daemon: a prune operation is already running' >&2
  exit 1
fi
exec '${realDocker}' "$@"
`;
}

dockerTest(
  "destroy waits out another prune on the engine, says so once, and removes every snapshot",
  async () => {
    await using setup = await bottleWithState("prunebusy", 2);
    const { slug } = setup.bottle;
    const realDocker = (await new Deno.Command("sh", { args: ["-c", "command -v docker"] })
      .output()).stdout;
    const bin = join(setup.home.home, "bin");
    await Deno.mkdir(bin);
    const marker = join(setup.home.home, "refused-once");
    await Deno.writeTextFile(
      join(bin, "docker"),
      busyShim(new TextDecoder().decode(realDocker).trim(), marker),
      { mode: 0o755 },
    );
    try {
      const run = await runCli(["destroy", slug, "--yes"], {
        ...setup.home.env,
        PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      });
      equal(run.code, 0, run.stderr);
      ok(await Deno.stat(marker).then(() => true, () => false), "the shim refused one prune");
      match(run.stderr, /another prune is running on Docker; waiting for it to finish\n/);
      equal(run.stderr.split("another prune is running").length, 2, run.stderr);
      equal(await docker("images", "-aq", "--filter", `label=bot-bottle.slug=${slug}`), "");
    } finally {
      await removeBottleObjects(slug);
    }
  },
);
