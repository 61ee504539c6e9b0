// `bot-bottle start`: a value that cannot be what its option takes is a
// usage error (status 2) saying what a valid one looks like, before anything
// is made.

import { deepStrictEqual, equal } from "node:assert/strict";
import { runCli } from "../../_helpers/cli.ts";
import { snapshotTree, tempHome } from "../../_helpers/temp_home.ts";

for (
  const [args, message] of [
    [
      ["--env", "BAD"],
      `--env "BAD" is not an environment variable (NAME=value); for example --env API_KEY=abc123`,
    ],
    [
      ["--volume", "/etc"],
      `--volume "/etc" is not a volume (HOST_PATH_OR_NAME:GUEST_PATH[:OPTIONS]); for example ` +
      `--volume "$PWD:/work" or --volume cache:/cache:ro`,
    ],
    [
      ["--image", "Bad/Image"],
      `--image "Bad/Image" is not an image reference; for example --image debian:bookworm`,
    ],
  ] as const
) {
  Deno.test(`start ${args.join(" ")} is a usage error saying what a valid value looks like`, async () => {
    await using home = await tempHome();
    const run = await runCli(["start", "--image", "busybox", ...args], home.env);
    equal(run.code, 2);
    equal(run.stderr, `bot-bottle: error: ${message}\n`);
    equal(run.stdout, "");
    deepStrictEqual(await snapshotTree(home.home), {}, "nothing was made");
  });
}
