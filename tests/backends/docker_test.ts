// DockerFreezer through the library, against the real Docker engine.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { BackendError, commit, DockerFreezer, getFreezer, loadAgent } from "../../mod.ts";
import {
  docker,
  dockerTest,
  removeBottleObjects,
  startBottle,
  TEST_IMAGE,
} from "../_helpers/docker.ts";
import { tempHome } from "../_helpers/temp_home.ts";

dockerTest(
  'getFreezer("") is the Docker freezer, and it lists running bottles by slug',
  async () => {
    await using bottle = await startBottle();
    const freezer = await getFreezer("");
    ok(freezer instanceof DockerFreezer);
    equal(freezer.backend, "docker");
    ok((await freezer.bottles.runningSlugs()).includes(bottle.slug));
    await docker("stop", "--time", "0", bottle.container);
    ok(
      !(await freezer.bottles.runningSlugs()).includes(bottle.slug),
      "a stopped bottle is not running",
    );
  },
);

dockerTest(
  "commit() returns the artifact and commands, and labels the image with the slug",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await home.writeBottle(bottle.slug);
    const result = await commit(bottle.slug, { root: home.root });
    deepStrictEqual(result, {
      slug: bottle.slug,
      backend: "docker",
      snapshotId: result.snapshotId,
      pruned: [],
      warnings: [],
      artifact: bottle.image,
      resumeCommand: `bot-bottle resume ${bottle.slug}`,
      exportCommand: `bot-bottle export ${bottle.slug}`,
      backendExportCommand: `docker save -o ${bottle.slug}.tar ${bottle.image}`,
    });
    equal(
      await docker(
        "image",
        "inspect",
        "--format",
        '{{index .Config.Labels "bot-bottle.slug"}}',
        bottle.image,
      ),
      bottle.slug,
    );
  },
);

dockerTest("commit() of a stopped bottle still snapshots its filesystem", async () => {
  await using home = await tempHome();
  await using bottle = await startBottle();
  await home.writeBottle(bottle.slug);
  await bottle.exec("sh", "-c", "echo before-stop > /marker");
  await docker("stop", "--time", "0", bottle.container);
  const agent = await loadAgent(bottle.slug, home.root);
  await (await getFreezer("docker")).commit(agent);
  equal(await docker("run", "--rm", bottle.image, "cat", "/marker"), "before-stop");
});

dockerTest(
  "a missing container is a BackendError carrying docker's argv, status and stderr",
  async () => {
    await using home = await tempHome();
    const slug = "gone-0a1b2";
    await home.writeBottle(slug);
    const error = await commit(slug, { root: home.root }).then(() => undefined, (e) => e);
    ok(error instanceof BackendError, String(error));
    equal(error.command, "commit");
    equal(error.exitCode, 1);
    deepStrictEqual(error.argv.slice(0, 2), ["docker", "commit"]);
    ok(error.stderr.includes("No such container"), error.stderr);
    equal(
      await Deno.lstat(home.stateDir(slug) + "/committed-image").catch(() => "absent"),
      "absent",
    );
  },
);

dockerTest(
  "the library's start, commit, destroy, resume and list make the same round trip",
  async () => {
    const { destroy, list, resume, start, terminalPrompter } = await import("../../mod.ts");
    await using home = await tempHome();
    const label = `lib-${crypto.randomUUID().slice(0, 8)}`;
    const yes = terminalPrompter({ yes: true });
    try {
      const started = await start({
        image: TEST_IMAGE,
        label,
        command: ["sleep", "3600"],
        root: home.root,
      });
      equal(started.slug, label);
      equal(started.shellCommand, `bot-bottle exec ${label}`);
      await docker("exec", started.bottle, "sh", "-c", "echo lib > /marker");
      const committed = await commit(label, { root: home.root });
      const kept = await destroy(label, { root: home.root, keepSnapshot: true, prompter: yes });
      deepStrictEqual(kept, { slug: label, removedBottle: true });
      const resumed = await resume(label, { root: home.root });
      equal(resumed.snapshotId, committed.snapshotId);
      equal(resumed.artifact, `bot-bottle-committed-${label}:${committed.snapshotId}`);
      ok(resumed.elapsedMs > 0);
      equal(await docker("exec", started.bottle, "cat", "/marker"), "lib");
      const [row] = await list({ root: home.root });
      equal(row?.state, "running");
      equal(row?.snapshot?.exists, true);
      const gone = await destroy(label, { root: home.root, prompter: yes });
      deepStrictEqual(gone.removedSnapshots, [
        `bot-bottle-committed-${label}:${committed.snapshotId}`,
        committed.artifact,
      ]);
      deepStrictEqual(await list({ root: home.root }), []);
    } finally {
      await removeBottleObjects(label);
    }
  },
);
