// A bottle's whole life through the CLI — start, commit, destroy
// --keep-snapshot, resume, ls, destroy — on a real Docker engine, and every
// bad input and missing object on the way.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { $ } from "dax";
import { runCli } from "./_helpers/cli.ts";
import {
  bottleWithState,
  cliBottle,
  docker,
  dockerTest,
  removeBottleObjects,
  TEST_IMAGE,
  testSlug,
} from "./_helpers/docker.ts";
import { launcherMetadata, snapshotTree, tempHome } from "./_helpers/temp_home.ts";

dockerTest(
  "start → commit → destroy --keep-snapshot → resume → ls → destroy on Docker",
  async () => {
    await using home = await tempHome();
    const label = testSlug("life");
    const shared = join(home.home, "shared");
    await Deno.mkdir(shared);
    await Deno.writeTextFile(join(shared, "from-host.txt"), "host file\n");
    try {
      // start
      const started = await runCli([
        "start",
        "--image",
        TEST_IMAGE,
        "--name",
        label,
        "--env",
        "AGENT_MODE=careful",
        "--volume",
        `${shared}:/mnt/shared`,
        "--",
        "sleep",
        "3600",
      ], home.env);
      equal(started.code, 0, started.stderr);
      const slug = started.stdout.trim();
      equal(slug, label);
      match(
        started.stderr,
        new RegExp(`to get a shell in it: bot-bottle exec ${slug}\n`),
      );
      const metadata = JSON.parse(
        await Deno.readTextFile(join(home.stateDir(slug), "metadata.json")),
      );
      equal(metadata.identity, slug);
      equal(metadata.backend, "docker");
      equal(metadata.copy_cwd, false);
      equal(metadata.label, label);
      equal(metadata.compose_project, `bot-bottle-${slug}`);
      deepStrictEqual(metadata.bottle_names, [`bot-bottle-${slug}`]);
      match(metadata.started_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
      const container = `bot-bottle-${slug}`;
      equal(await docker("inspect", "--format", "{{.State.Status}}", container), "running");

      // the agent works: a file in the bottle, a file in the bind mount
      await docker(
        "exec",
        container,
        "sh",
        "-c",
        "echo inside > /marker; echo via-mount > /mnt/shared/agent.txt",
      );

      // commit
      const committed = await runCli(["commit", slug], home.env);
      equal(committed.code, 0, committed.stderr);
      const runConfig = JSON.parse(
        await Deno.readTextFile(join(home.stateDir(slug), "run-config.json")),
      );
      ok(runConfig.volumes.includes(`${shared}:/mnt/shared`), JSON.stringify(runConfig));
      ok(runConfig.env.includes("AGENT_MODE=careful"));

      const listed = JSON.parse((await runCli(["ls", "--json"], home.env)).stdout);
      equal(listed.length, 1);
      equal(listed[0].slug, slug);
      equal(listed[0].state, "running");
      equal(listed[0].snapshot.artifact, `bot-bottle-committed-${slug}:latest`);
      equal(listed[0].snapshot.exists, true);
      ok(listed[0].snapshot.sizeBytes > 0);

      // destroy --keep-snapshot
      const kept = await runCli(["destroy", slug, "--keep-snapshot", "--yes"], home.env);
      equal(kept.code, 0, kept.stderr);
      equal(await docker("ps", "-aq", "--filter", `name=^${container}$`), "");
      ok(await Deno.stat(join(home.stateDir(slug), "committed-image")));
      equal(JSON.parse((await runCli(["ls", "--json"], home.env)).stdout)[0].state, "absent");

      // resume, twice in a row
      for (const args of [["resume", slug], ["resume", slug, "--replace", "--yes"]]) {
        const resumed = await runCli(args, home.env);
        equal(resumed.code, 0, resumed.stderr);
        match(
          resumed.stderr,
          new RegExp(
            `resumed bottle "${slug}" from snapshot \\d{8}T\\d{6}Z ` +
              `\\(bot-bottle-committed-${slug}:\\d{8}T\\d{6}Z\\) in \\d+\\.\\d s\n`,
          ),
        );
        equal(await docker("inspect", "--format", "{{.State.Status}}", container), "running");
        equal(
          await docker(
            "exec",
            container,
            "sh",
            "-c",
            "cat /marker /mnt/shared/agent.txt /mnt/shared/from-host.txt; echo $AGENT_MODE",
          ),
          "inside\nvia-mount\nhost file\ncareful",
        );
        equal(await Deno.readTextFile(join(home.stateDir(slug), ".preserve")), "");
        equal(
          await Deno.readTextFile(join(home.stateDir(slug), "committed-image")),
          `bot-bottle-committed-${slug}:latest\n`,
        );
      }

      // resuming over a running bottle needs --replace
      const again = await runCli(["resume", slug], home.env);
      equal(again.code, 1);
      match(
        again.stderr,
        new RegExp(`bottle "${slug}" is still running as ${container}; pass --replace`),
      );

      // destroy everything
      const destroyed = await runCli(["destroy", slug, "--yes"], home.env);
      equal(destroyed.code, 0, destroyed.stderr);
      equal(await docker("ps", "-aq", "--filter", `name=^${container}$`), "");
      equal(await docker("images", "-q", `bot-bottle-committed-${slug}`), "");
      equal(await docker("images", "-q", "--filter", `label=bot-bottle.slug=${slug}`), "");
      deepStrictEqual(await snapshotTree(join(home.root, "state")), {});
      equal(
        await Deno.readTextFile(join(shared, "from-host.txt")),
        "host file\n",
        "host files are kept",
      );
    } finally {
      await removeBottleObjects(label);
    }
  },
);

dockerTest("start refuses a slug whose bottle already runs, naming it", async () => {
  await using home = await tempHome();
  await using bottle = await cliBottle(testSlug("dup"), home.env);
  const label = bottle.slug;
  const before = await snapshotTree(home.home);
  const again = await runCli(["start", "--image", TEST_IMAGE, "--name", label], home.env);
  equal(again.code, 1);
  match(
    again.stderr,
    new RegExp(
      `^bot-bottle: error: a bottle "${label}" already exists on docker \\(bot-bottle-${label} is running\\); `,
    ),
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

dockerTest("a failed start removes the state directory it made", async () => {
  await using home = await tempHome();
  const label = testSlug("bad");
  const run = await runCli(
    ["start", "--image", "bot-bottle-no-such-image:latest", "--name", label],
    home.env,
  );
  equal(run.code, 1);
  match(run.stderr, /^bot-bottle: error: "docker run" failed \(exit status 125\): /);
  deepStrictEqual(await snapshotTree(home.home), {});
  equal(await docker("ps", "-aq", "--filter", `name=^bot-bottle-${label}$`), "");
});

dockerTest(
  "start of a command that exits at once fails with its exit status and output, leaving nothing",
  async () => {
    await using home = await tempHome();
    const label = testSlug("boom");
    try {
      const run = await runCli(
        ["start", "--image", TEST_IMAGE, "--name", label, "--", "sh", "-c", "echo boom; exit 3"],
        home.env,
      );
      equal(run.code, 1);
      equal(
        run.stderr,
        `bot-bottle: error: bottle "${label}" was created from ${TEST_IMAGE} but exited at once ` +
          `with status 3; check that its command keeps running (e.g. -- sleep infinity); the last ` +
          `lines of its output:\nboom\n`,
      );
      deepStrictEqual(await snapshotTree(home.home), {});
      equal(await docker("ps", "-aq", "--filter", `name=^bot-bottle-${label}$`), "");
    } finally {
      await removeBottleObjects(label);
    }
  },
);

dockerTest(
  "resume of a snapshot whose command exits at once says so the same way, and removes the bottle",
  async () => {
    await using home = await tempHome();
    const slug = testSlug("boomr");
    const made = `bot-bottle-make-${slug}`;
    const image = `bot-bottle-committed-${slug}:latest`;
    try {
      await docker("create", "--name", made, TEST_IMAGE, "true");
      await docker(
        "commit",
        "--change",
        'CMD ["sh", "-c", "echo boom; echo bust >&2; exit 4"]',
        "--change",
        `LABEL bot-bottle.slug=${slug}`,
        made,
        image,
      );
      const dir = await home.writeBottle(slug);
      await Deno.writeTextFile(join(dir, "committed-image"), `${image}\n`);
      const before = await snapshotTree(home.home);
      const run = await runCli(["resume", slug], home.env);
      equal(run.code, 1);
      equal(
        run.stderr,
        `bottle "${slug}" did not stay up; the stopped bot-bottle-${slug} was removed; its ` +
          `snapshot legacy and state are unchanged\n` +
          `bot-bottle: error: bottle "${slug}" was created from ${image} but exited at once with ` +
          `status 4; check that its command keeps running (e.g. -- sleep infinity); the last lines ` +
          `of its output:\nboom\nbust\n`,
      );
      deepStrictEqual(await snapshotTree(home.home), before);
      equal(await docker("ps", "-aq", "--filter", `name=^bot-bottle-${slug}$`), "");
    } finally {
      await $`docker rm -f ${made}`.quiet().noThrow();
      await removeBottleObjects(slug);
    }
  },
);

dockerTest("resume says when the snapshot image is gone, and changes nothing", async () => {
  await using home = await tempHome();
  const slug = testSlug();
  const dir = await home.writeBottle(slug);
  await Deno.writeTextFile(join(dir, "committed-image"), `bot-bottle-committed-${slug}:latest\n`);
  const before = await snapshotTree(home.home);
  const run = await runCli(["resume", slug], home.env);
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: the snapshot legacy of bottle "${slug}", bot-bottle-committed-${slug}:latest, ` +
      `no longer exists on docker; commit the bottle again, resume another snapshot, or import one\n`,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

dockerTest("ls shows every bottle once, without failing on a corrupt one", async () => {
  await using home = await tempHome();
  const slugs = [testSlug("a"), testSlug("b")].sort();
  for (const slug of slugs) await home.writeBottle(slug);
  await home.writeBottle("corrupt-x1", {}, "{ nope");
  const run = await runCli(["ls", "--json"], home.env);
  equal(run.code, 0, run.stderr);
  const rows = JSON.parse(run.stdout);
  deepStrictEqual(rows.map((row: { slug: string }) => row.slug), [...slugs, "corrupt-x1"].sort());
  const corrupt = rows.find((row: { slug: string }) => row.slug === "corrupt-x1");
  equal(corrupt.state, "unknown");
  match(corrupt.problem, /metadata\.json is not valid JSON/);
  for (const row of rows.filter((row: { slug: string }) => row.slug !== "corrupt-x1")) {
    deepStrictEqual(
      { backend: row.backend, state: row.state, snapshot: row.snapshot, preserved: row.preserved },
      { backend: "docker", state: "absent", snapshot: null, preserved: false },
    );
    equal(row.startedAt, launcherMetadata(row.slug).started_at);
  }
  const table = await runCli(["ls"], home.env);
  equal(table.code, 0);
  match(table.stdout, /^SLUG +BACKEND +STATE +SNAPSHOT +MODE +AGE +SIZE +PRESERVED +STARTED$/m);
  match(table.stderr, /^corrupt-x1: .*metadata\.json is not valid JSON/m);
});

Deno.test("ls marks the rows of an unavailable backend and still lists them", async () => {
  await using home = await tempHome();
  await home.writeBottle("dev-abc12");
  await home.writeBottle("legacy-x1", { identity: "legacy-x1" });
  const run = await runCli(["ls", "--json"], { ...home.env, PATH: join(home.home, "no-bin") });
  equal(run.code, 0, run.stderr);
  const rows = JSON.parse(run.stdout);
  deepStrictEqual(
    rows.map((
      row: { slug: string; state: string; backend: string },
    ) => [row.slug, row.backend, row.state]),
    [
      ["dev-abc12", "docker", "unavailable"],
      ["legacy-x1", "docker", "unavailable"],
    ],
  );
  match(rows[0].problem, /"docker" is not installed or not on PATH/);
});

Deno.test("ls with no bottles says how to start one", async () => {
  await using home = await tempHome();
  const run = await runCli(["ls"], home.env);
  equal(run.code, 0);
  equal(run.stdout, "");
  equal(run.stderr, "no bottles; start one with: bot-bottle start --image <image>\n");
  deepStrictEqual(JSON.parse((await runCli(["ls", "--json"], home.env)).stdout), []);
});

const badStarts: [string[], number, RegExp][] = [
  [["start"], 2, /^bot-bottle: error: start needs --image; /],
  [["start", "--image", "x:y", "extra"], 2, /start takes no arguments before "--"/],
  [["start", "--image", "x:y", "--name", "!!!"], 1, /the label "!!!" has no letters or digits/],
  [
    ["start", "--image", "x:y", "--backend", "vmware"],
    1,
    /unknown backend "vmware"; known backends: /,
  ],
  // A value that cannot be what its option takes is a usage error saying what a valid one is.
  [
    ["start", "--image", "Not An Image"],
    2,
    /^bot-bottle: error: --image "Not An Image" is not an image reference; for example --image debian:bookworm\n$/,
  ],
  [
    ["start", "--image", "x:y", "--env", "NOEQUALS"],
    2,
    /^bot-bottle: error: --env "NOEQUALS" is not an environment variable \(NAME=value\); for example --env API_KEY=abc123\n$/,
  ],
  [
    ["start", "--image", "x:y", "--volume=-rf:/x"],
    2,
    /^bot-bottle: error: --volume "-rf:\/x" is not a volume \(HOST_PATH_OR_NAME:GUEST_PATH\[:OPTIONS\]\); for example --volume "\$PWD:\/work" or --volume cache:\/cache:ro\n$/,
  ],
];
for (const [args, code, message] of badStarts) {
  Deno.test(`bot-bottle ${args.join(" ")} is refused and creates nothing`, async () => {
    await using home = await tempHome();
    const run = await runCli(args, { ...home.env, PATH: "/nonexistent" });
    equal(run.code, code, run.stderr);
    match(run.stderr, message);
    deepStrictEqual(await snapshotTree(home.home), {});
  });
}

Deno.test("resume and destroy refuse a bad slug and a bottle without state", async () => {
  await using home = await tempHome();
  for (const command of ["resume", "destroy"]) {
    const bad = await runCli([command, "../etc"], home.env);
    equal(bad.code, 1);
    match(bad.stderr, /"\.\.\/etc" is not a valid bottle slug/);
    const missing = await runCli([command, "ghost-q1w2e"], home.env);
    equal(missing.code, 1);
    match(missing.stderr, /bottle "ghost-q1w2e" has no state at /);
    const usage = await runCli([command], home.env);
    equal(usage.code, 2);
  }
  deepStrictEqual(await snapshotTree(home.home), {});
});

Deno.test("resume of a bottle that was never committed says to commit it first", async () => {
  await using home = await tempHome();
  await home.writeBottle("fresh-a1b2c");
  const before = await snapshotTree(home.home);
  const run = await runCli(["resume", "fresh-a1b2c"], home.env);
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: bottle "fresh-a1b2c" has no snapshot to resume; commit it first: ` +
      `bot-bottle commit fresh-a1b2c\n`,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

dockerTest(
  "destroy of a bottle with many snapshots, without a terminal: one short line with counts",
  async () => {
    await using setup = await bottleWithState("many");
    const { home, bottle, dir } = setup;
    const file = join(dir, "snapshots.json");
    const history = JSON.parse(await Deno.readTextFile(file));
    const real = history.snapshots[0];
    history.snapshots = [
      ...Array.from({ length: 40 }, (_, n) => ({
        ...real,
        id: `20200101T0000${String(n).padStart(2, "0")}Z`,
        artifact: `bot-bottle-committed-${bottle.slug}:20200101T0000${String(n).padStart(2, "0")}Z`,
      })),
      ...history.snapshots,
    ];
    await Deno.writeTextFile(file, JSON.stringify(history));
    const before = await snapshotTree(home.home);
    const run = await runCli(["destroy", bottle.slug], home.env);
    equal(run.code, 2);
    equal(
      run.stderr,
      `bot-bottle: error: destroying bottle "${bottle.slug}" removes the running ` +
        `${bottle.container}, its 42 snapshots and its state directory: pass --yes to confirm ` +
        `(there is no terminal to ask on)\n`,
    );
    deepStrictEqual(await snapshotTree(home.home), before);
    equal(
      await docker("container", "inspect", "--format", "{{.State.Status}}", bottle.container),
      "running",
    );
  },
);

dockerTest(
  "destroy without a terminal and without --yes is an error, and nothing is removed",
  async () => {
    await using home = await tempHome();
    const slug = testSlug();
    await home.writeBottle(slug);
    const before = await snapshotTree(home.home);
    const run = await runCli(["destroy", slug], home.env);
    equal(run.code, 2);
    match(
      run.stderr,
      new RegExp(
        `^bot-bottle: error: destroying bottle "${slug}" removes its state directory: pass --yes ` +
          `to confirm \\(there is no terminal to ask on\\)\n$`,
      ),
    );
    deepStrictEqual(await snapshotTree(home.home), before);
  },
);

dockerTest(
  "resume removes a stopped bottle of the same name first, saying so; --no-preserve clears .preserve",
  async () => {
    await using home = await tempHome();
    await using bottle = await cliBottle(testSlug("stop"), home.env);
    const label = bottle.slug;
    equal((await runCli(["commit", label], home.env)).code, 0);
    await docker("stop", "--time", "0", `bot-bottle-${label}`);
    const resumed = await runCli(["resume", label, "--no-preserve"], home.env);
    equal(resumed.code, 0, resumed.stderr);
    match(resumed.stderr, new RegExp(`^removing the stopped bot-bottle-${label} first$`, "m"));
    equal(
      await docker("inspect", "--format", "{{.State.Status}}", `bot-bottle-${label}`),
      "running",
    );
    equal(
      await Deno.stat(join(home.stateDir(label), ".preserve")).catch(() => "absent"),
      "absent",
    );
    equal(
      await Deno.readTextFile(join(home.stateDir(label), "committed-image")),
      `bot-bottle-committed-${label}:latest\n`,
    );
  },
);
