// What a bottle owns, whatever a state file says: real files, real links.

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { fileOwnershipProblem, imageOwnershipProblem } from "../../lib/state/ownership.ts";

Deno.test("imageOwnershipProblem() accepts only bot-bottle-committed-<slug>:<tag>", () => {
  for (
    const own of ["bot-bottle-committed-dev:latest", "bot-bottle-committed-dev:20261124T141500Z"]
  ) {
    equal(imageOwnershipProblem("bot-bottle-committed-dev", own), undefined, own);
  }
  equal(
    imageOwnershipProblem(
      "bot-bottle-committed-dev",
      "docker.io/library/bot-bottle-committed-dev:1",
    ),
    undefined,
  );
  for (
    const other of [
      "victim-base:latest",
      "bot-bottle-committed-dev2:latest",
      "bot-bottle-committed-de:v",
      "bot-bottle-committed-dev",
      "ghcr.io/x/bot-bottle-committed-dev:1",
      "bot-bottle-committed-dev@sha256:" + "a".repeat(64),
      "sha256:" + "a".repeat(64),
    ]
  ) {
    const problem = imageOwnershipProblem("bot-bottle-committed-dev", other);
    ok(problem, other);
    match(problem, /not named bot-bottle-committed-dev:<tag>/);
  }
});

Deno.test("fileOwnershipProblem() accepts a file inside the state directory reached without links", async () => {
  const root = await Deno.makeTempDir();
  try {
    const state = join(root, "state", "dev");
    const outside = join(root, "outside");
    await Deno.mkdir(join(state, "snapshots"), { recursive: true });
    await Deno.mkdir(outside);
    const own = join(state, "snapshots", "1.smolmachine");
    await Deno.writeTextFile(own, "machine");
    await Deno.writeTextFile(join(outside, "victim.smolmachine"), "victim");
    await Deno.symlink(
      join(outside, "victim.smolmachine"),
      join(state, "snapshots", "2.smolmachine"),
    );
    await Deno.symlink(outside, join(state, "linked"));

    equal(await fileOwnershipProblem(state, own, ".smolmachine"), undefined);
    equal(
      await fileOwnershipProblem(
        state,
        join(state, "snapshots", "gone.smolmachine"),
        ".smolmachine",
      ),
      undefined,
    );
    const cases: [string, RegExp][] = [
      [join(outside, "victim.smolmachine"), /not inside the bottle's state directory/],
      [join(state, "..", "..", "outside", "victim.smolmachine"), /not inside/],
      ["snapshots/1.smolmachine", /not inside/],
      [join(state, "snapshots", "2.smolmachine"), /is a symbolic link/],
      [join(state, "linked", "victim.smolmachine"), /linked is a symbolic link/],
      [join(state, "metadata.json"), /does not end in \.smolmachine/],
      [join(state, "snapshots") + ".smolmachine", /./],
    ];
    await Deno.mkdir(join(state, "snapshots.smolmachine"));
    for (const [path, says] of cases) {
      const problem = await fileOwnershipProblem(state, path, ".smolmachine");
      ok(problem, path);
      match(problem, says, path);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
