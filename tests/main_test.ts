// The CLI, run as a subprocess as a user runs it, against real files and a
// real Docker engine.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { commitJson, runCli } from "./_helpers/cli.ts";
import { docker, dockerTest, startBottle, testSlug } from "./_helpers/docker.ts";
import { launcherMetadata, snapshotTree, tempHome } from "./_helpers/temp_home.ts";

/** The images labelled for `slug` that are dangling (untagged). */
async function danglingImages(slug: string): Promise<string> {
  return await docker(
    "images",
    "-q",
    "--filter",
    "dangling=true",
    "--filter",
    `label=bot-bottle.slug=${slug}`,
  );
}

dockerTest(
  "commit <slug> snapshots a running Docker bottle and records it for the launcher",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await bottle.exec(
      "sh",
      "-c",
      "echo agent-work > /root-marker && mkdir -p /work && echo wip > /work/notes",
    );
    const dir = await home.writeBottle(bottle.slug);
    const metadataBefore = await Deno.readTextFile(join(dir, "metadata.json"));

    const run = await runCli(["commit", bottle.slug], home.env);

    equal(run.code, 0, run.stderr);
    equal(run.stdout, "");
    match(
      run.stderr,
      new RegExp(`to resume from this snapshot: bot-bottle resume ${bottle.slug}\n`),
    );
    match(
      run.stderr,
      new RegExp(`to move it to another machine: bot-bottle export ${bottle.slug}\n`),
    );
    equal(await Deno.readTextFile(join(dir, "committed-image")), `${bottle.image}\n`);
    equal(await Deno.readTextFile(join(dir, ".preserve")), "");
    equal(await Deno.readTextFile(join(dir, "metadata.json")), metadataBefore);
    equal(
      await docker("run", "--rm", bottle.image, "cat", "/root-marker", "/work/notes"),
      "agent-work\nwip",
    );
    // The bottle keeps running: docker commit pauses it only while it copies.
    equal(await docker("inspect", "--format", "{{.State.Status}}", bottle.container), "running");
  },
);

dockerTest('commit treats a legacy state directory (backend "" or none) as Docker', async () => {
  for (const metadata of [launcherMetadata("x", { backend: "" }), { identity: "x", cwd: "/tmp" }]) {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await home.writeBottle(bottle.slug, { ...metadata, identity: bottle.slug });
    const run = await runCli(["commit", bottle.slug], home.env);
    equal(run.code, 0, run.stderr);
    equal(
      await Deno.readTextFile(join(home.stateDir(bottle.slug), "committed-image")),
      `${bottle.image}\n`,
    );
  }
});

dockerTest(
  "each commit keeps its own tag, :latest moves to the newest, nothing dangles",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await home.writeBottle(bottle.slug);
    const ids: string[] = [];
    for (const generation of ["one", "two", "three"]) {
      await bottle.exec("sh", "-c", `echo ${generation} > /marker`);
      const run = await runCli(
        ["commit", bottle.slug, "--json", "-m", `gen ${generation}`],
        home.env,
      );
      equal(run.code, 0, run.stderr);
      ids.push(JSON.parse(run.stdout).snapshotId);
    }
    equal(new Set(ids).size, 3, "ids are unique");
    const repository = `bot-bottle-committed-${bottle.slug}`;
    for (const [id, generation] of [[ids[0], "one"], [ids[2], "three"], ["latest", "three"]]) {
      equal(await docker("run", "--rm", `${repository}:${id}`, "cat", "/marker"), generation);
    }
    equal(
      await Deno.readTextFile(join(home.stateDir(bottle.slug), "committed-image")),
      `${bottle.image}\n`,
    );
    equal(await danglingImages(bottle.slug), "");

    const rows = JSON.parse((await runCli(["snapshots", bottle.slug, "--json"], home.env)).stdout);
    deepStrictEqual(rows.map((row: { id: string }) => row.id), [...ids].reverse());
    deepStrictEqual(rows.map((row: { message: string }) => row.message), [
      "gen three",
      "gen two",
      "gen one",
    ]);
    deepStrictEqual(rows.map((row: { current: boolean }) => row.current), [true, false, false]);
    for (const row of rows) {
      equal(row.artifact, `${repository}:${row.id}`);
      equal(row.backend, "docker");
      ok(row.sizeBytes > 0);
      equal(row.parent, null);
    }
    const table = await runCli(["snapshots", bottle.slug], home.env);
    match(
      table.stdout,
      new RegExp(`^\\* +${ids[2]} +\\S+ +disk +[\\d.]+ [kMG]?B +- +- +gen three$`, "m"),
    );

    // Prune to one: the older tags go, the newest and :latest stay, nothing dangles.
    const dry = await runCli(["prune", bottle.slug, "--keep", "1", "--dry-run"], home.env);
    equal(dry.code, 0, dry.stderr);
    match(dry.stderr, new RegExp(`would remove 2 snapshot\\(s\\) \\(${ids[0]}, ${ids[1]}\\)`));
    equal(
      (await docker("images", "--format", "{{.Tag}}", repository)).split("\n").length,
      4,
      "a dry run removes nothing",
    );
    const pruned = await runCli(["prune", bottle.slug, "--keep", "1"], home.env);
    equal(pruned.code, 0, pruned.stderr);
    match(pruned.stderr, /removed 2 snapshot\(s\) .*freed up to /);
    deepStrictEqual(
      (await docker("images", "--format", "{{.Tag}}", repository)).split("\n").sort(),
      [ids[2], "latest"].sort(),
    );
    equal(await danglingImages(bottle.slug), "");
    equal(
      JSON.parse((await runCli(["snapshots", bottle.slug, "--json"], home.env)).stdout).length,
      1,
    );
  },
);

dockerTest(
  "resume --at ~2 boots an older snapshot and records it as the next commit's parent",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await home.writeBottle(bottle.slug);
    const ids: string[] = [];
    for (const generation of ["one", "two", "three"]) {
      await bottle.exec("sh", "-c", `echo ${generation} > /marker`);
      ids.push(
        JSON.parse((await runCli(["commit", bottle.slug, "--json"], home.env)).stdout).snapshotId,
      );
    }
    const resumed = await runCli(
      ["resume", bottle.slug, "--at", "~2", "--replace", "--yes"],
      home.env,
    );
    equal(resumed.code, 0, resumed.stderr);
    match(resumed.stderr, new RegExp(`resumed bottle "${bottle.slug}" from snapshot ${ids[0]} `));
    equal(await bottle.exec("cat", "/marker"), "one");
    equal(
      await Deno.readTextFile(join(home.stateDir(bottle.slug), "committed-image")),
      `${bottle.image}\n`,
    );
    // Pruning never removes the snapshot a running bottle was resumed from.
    equal((await runCli(["prune", bottle.slug, "--keep", "1"], home.env)).code, 0);
    const kept = JSON.parse((await runCli(["snapshots", bottle.slug, "--json"], home.env)).stdout);
    deepStrictEqual(
      kept.map((row: { id: string; resumedFrom: boolean }) => [row.id, row.resumedFrom]),
      [
        [ids[2], false],
        [ids[0], true],
      ],
    );
    // The next commit records its lineage.
    const next = JSON.parse((await runCli(["commit", bottle.slug, "--json"], home.env)).stdout);
    const [newest] = JSON.parse(
      (await runCli(["snapshots", bottle.slug, "--json"], home.env)).stdout,
    );
    equal(newest.id, next.snapshotId);
    equal(newest.parent, ids[0]);
    // An unknown snapshot is a clear error.
    const unknown = await runCli([
      "resume",
      bottle.slug,
      "--at",
      "19990101T000000Z",
      "--replace",
      "--yes",
    ], home.env);
    equal(unknown.code, 1);
    match(
      unknown.stderr,
      new RegExp(
        `bottle "${bottle.slug}" has no snapshot "19990101T000000Z"; it has 3 \\(newest first: `,
      ),
    );
  },
);

dockerTest(
  "a bottle committed before histories were kept keeps that snapshot as legacy",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    const dir = await home.writeBottle(bottle.slug);
    // What the launcher (or an older bot-bottle) left: :latest and committed-image, no history.
    await bottle.exec("sh", "-c", "echo old > /marker");
    await docker("commit", bottle.container, bottle.image);
    await Deno.writeTextFile(join(dir, "committed-image"), `${bottle.image}\n`);
    const legacy = JSON.parse(
      (await runCli(["snapshots", bottle.slug, "--json"], home.env)).stdout,
    );
    deepStrictEqual(legacy.map((row: { id: string; artifact: string }) => [row.id, row.artifact]), [
      ["legacy", bottle.image],
    ]);
    await bottle.exec("sh", "-c", "echo new > /marker");
    equal((await runCli(["commit", bottle.slug], home.env)).code, 0);
    const rows = JSON.parse((await runCli(["snapshots", bottle.slug, "--json"], home.env)).stdout);
    equal(rows.length, 2);
    equal(rows[1].id, "legacy");
    equal(rows[1].artifact, `bot-bottle-committed-${bottle.slug}:legacy`);
    equal(await docker("run", "--rm", rows[1].artifact, "cat", "/marker"), "old");
    equal(await docker("run", "--rm", bottle.image, "cat", "/marker"), "new");
    equal(await danglingImages(bottle.slug), "");
  },
);

dockerTest(
  "automatic retention keeps BOT_BOTTLE_KEEP_SNAPSHOTS snapshots after each commit, saying so",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await home.writeBottle(bottle.slug);
    const env = { ...home.env, BOT_BOTTLE_KEEP_SNAPSHOTS: "2" };
    for (let i = 0; i < 2; i++) equal((await runCli(["commit", bottle.slug], env)).code, 0);
    const third = await runCli(["commit", bottle.slug], env);
    equal(third.code, 0, third.stderr);
    match(
      third.stderr,
      /removed 1 old snapshot\(s\) beyond the newest 2 \(\d{8}T\d{6}Z(-\d+)?\); BOT_BOTTLE_KEEP_SNAPSHOTS sets how many are kept/,
    );
    equal(JSON.parse((await runCli(["snapshots", bottle.slug, "--json"], env)).stdout).length, 2);
    const bad = await runCli(["commit", bottle.slug], {
      ...home.env,
      BOT_BOTTLE_KEEP_SNAPSHOTS: "some",
    });
    equal(bad.code, 1);
    match(bad.stderr, /BOT_BOTTLE_KEEP_SNAPSHOTS must be a whole number/);
  },
);

dockerTest("commit --json prints one object on stdout and no prose", async () => {
  await using home = await tempHome();
  await using bottle = await startBottle();
  await home.writeBottle(bottle.slug);

  const run = await runCli(["commit", bottle.slug, "--json"], home.env);

  equal(run.code, 0, run.stderr);
  equal(run.stderr, "");
  deepStrictEqual(commitJson(run.stdout), {
    slug: bottle.slug,
    backend: "docker",
    artifact: bottle.image,
    resumeCommand: `bot-bottle resume ${bottle.slug}`,
    exportCommand: `bot-bottle export ${bottle.slug}`,
    mode: "disk",
    backendExportCommand: `docker save -o ${bottle.slug}.tar ${bottle.image}`,
    pruned: [],
    warnings: [],
  });
});

dockerTest("commit --verbose shows the docker command it runs", async () => {
  await using home = await tempHome();
  await using bottle = await startBottle();
  await home.writeBottle(bottle.slug);
  const run = await runCli(["commit", "--verbose", bottle.slug], home.env);
  equal(run.code, 0, run.stderr);
  match(
    run.stderr,
    new RegExp(
      `^\\$ docker commit --change 'LABEL bot-bottle.slug=${bottle.slug}' ${bottle.container} ` +
        `bot-bottle-committed-${bottle.slug}:\\d{8}T\\d{6}Z$`,
      "m",
    ),
  );
});

dockerTest(
  "commit --no-pause runs docker commit --pause=false, and the snapshot holds the bottle's files",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await home.writeBottle(bottle.slug);
    await bottle.exec("sh", "-c", "echo unpaused > /marker");
    const run = await runCli(["commit", "--no-pause", "--verbose", bottle.slug], home.env);
    equal(run.code, 0, run.stderr);
    match(
      run.stderr,
      new RegExp(
        `^\\$ docker commit --pause=false --change 'LABEL bot-bottle.slug=${bottle.slug}' ` +
          `${bottle.container} bot-bottle-committed-${bottle.slug}:\\d{8}T\\d{6}Z$`,
        "m",
      ),
    );
    equal(await docker("run", "--rm", bottle.image, "cat", "/marker"), "unpaused");
  },
);

dockerTest("a failed commit keeps the previous snapshot and its record", async () => {
  await using home = await tempHome();
  await using bottle = await startBottle();
  await home.writeBottle(bottle.slug);
  await bottle.exec("sh", "-c", "echo kept > /marker");
  equal((await runCli(["commit", bottle.slug], home.env)).code, 0);
  await docker("rm", "-f", bottle.container);
  const before = await snapshotTree(home.home);

  const run = await runCli(["commit", bottle.slug], home.env);

  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: bottle "${bottle.slug}" has no container "${bottle.container}" on Docker; ` +
      `it has stopped and been removed, or was started elsewhere; see "docker ps -a"\n`,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
  equal(await docker("run", "--rm", bottle.image, "cat", "/marker"), "kept");
});

dockerTest(
  "commit --verbose on a failure shows the argv, exit status and docker's output",
  async () => {
    await using home = await tempHome();
    const slug = testSlug();
    await home.writeBottle(slug);
    const run = await runCli(["commit", slug, "-v"], home.env);
    equal(run.code, 1);
    match(run.stderr, /^bot-bottle: error: bottle ".*" has no container/m);
    match(
      run.stderr,
      new RegExp(`  command: \\["docker","commit","--change","LABEL bot-bottle.slug=${slug}"`),
    );
    ok(run.stderr.includes("\n  exit status: 1\n"), run.stderr);
    match(run.stderr, /\n {2}stderr:\n {4}Error.*No such container/);
  },
);

dockerTest("commit with the Docker engine unreachable says so and changes nothing", async () => {
  await using home = await tempHome();
  const slug = testSlug();
  await home.writeBottle(slug);
  const before = await snapshotTree(home.home);
  const run = await runCli(["commit", slug], {
    ...home.env,
    DOCKER_HOST: `unix://${home.home}/no-docker.sock`,
  });
  equal(run.code, 1);
  match(
    run.stderr,
    /^bot-bottle: error: cannot reach the Docker engine \(Cannot connect to the Docker daemon .*\); start Docker and try again\n$/,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("commit without docker installed names the missing tool and changes nothing", async () => {
  await using home = await tempHome();
  const slug = testSlug();
  await home.writeBottle(slug);
  const before = await snapshotTree(home.home);
  const run = await runCli(["commit", slug], { ...home.env, PATH: join(home.home, "empty-bin") });
  equal(run.code, 1);
  equal(
    run.stderr,
    `bot-bottle: error: "docker" is not installed or not on PATH; the "docker" backend needs ` +
      `Docker: the docker CLI and a running engine\n`,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

for (const bad of ["../x", "A B", "", "-rf", "dev_abc", "dev--x"]) {
  Deno.test(`commit refuses the slug ${JSON.stringify(bad)} and changes nothing`, async () => {
    await using home = await tempHome();
    await home.writeBottle("dev-abc12");
    const before = await snapshotTree(home.home);
    const run = await runCli(["commit", "--", bad], home.env);
    equal(run.code, 1);
    match(
      run.stderr,
      new RegExp(`^bot-bottle: error: ${escape(JSON.stringify(bad))} is not a valid bottle slug; `),
    );
    deepStrictEqual(await snapshotTree(home.home), before);
  });
}

const badState: [
  string,
  (home: Awaited<ReturnType<typeof tempHome>>, slug: string) => Promise<unknown>,
  RegExp,
][] = [
  [
    "no state directory",
    async () => {},
    /has no state at .*\/\.bot-bottle\/state\/[a-z0-9-]+; check the slug/,
  ],
  [
    "no metadata.json",
    (home, slug) => Deno.mkdir(home.stateDir(slug), { recursive: true }),
    /has no metadata\.json in /,
  ],
  [
    "corrupt metadata.json",
    (home, slug) => home.writeBottle(slug, {}, "{ not json"),
    /metadata\.json is not valid JSON \(.*\); fix or restore the file/,
  ],
  [
    "metadata.json that is an array",
    (home, slug) => home.writeBottle(slug, {}, "[1, 2]"),
    /metadata\.json must hold a JSON object/,
  ],
  [
    "a wrongly typed field",
    (home, slug) => home.writeBottle(slug, { backend: 7 }),
    /metadata\.json has fields of the wrong type \(backend: /,
  ],
  [
    "an unknown backend",
    (home, slug) => home.writeBottle(slug, launcherMetadata(slug, { backend: "vmware" })),
    /unknown backend "vmware"; known backends: "docker", "macos-container", "smolmachines"/,
  ],
];
for (const [what, setUp, message] of badState) {
  Deno.test(`commit on a bottle with ${what} gives a clear error and changes nothing`, async () => {
    await using home = await tempHome();
    const slug = testSlug();
    await setUp(home, slug);
    const before = await snapshotTree(home.home);
    const run = await runCli(["commit", slug], home.env);
    equal(run.code, 1, run.stderr);
    match(run.stderr, /^bot-bottle: error: /);
    match(run.stderr, message);
    equal(run.stderr.trimEnd().split("\n").length, 1, "one line");
    deepStrictEqual(await snapshotTree(home.home), before);
  });
}

const usage: [string[], RegExp][] = [
  [
    ["commit"],
    /^bot-bottle: error: no slug given; pass the bottle's slug: bot-bottle commit <slug>\n$/,
  ],
  [["commit", "a", "b"], /^bot-bottle: error: commit takes one slug, got 2; /],
  [
    ["commit", "--bogus", "a"],
    /^bot-bottle: error: unknown option "--bogus" for "commit"; run "bot-bottle commit --help" for usage\n$/,
  ],
  [
    ["frobnicate"],
    /^bot-bottle: error: unknown command "frobnicate"; commands: start, commit, resume, exec, ls, snapshots, prune, export, import, push, pull, destroy, backends, completions; run "bot-bottle --help"\n$/,
  ],
  [["help", "frobnicate"], /^bot-bottle: error: unknown command "frobnicate"; commands: /],
  [
    ["--frob"],
    /^bot-bottle: error: unknown option "--frob"; put a command first \(start, commit, .*\); run "bot-bottle --help"\n$/,
  ],
];
for (const [args, message] of usage) {
  Deno.test(`bot-bottle ${args.join(" ")} is a usage error (exit status 2)`, async () => {
    await using home = await tempHome();
    const run = await runCli(args, home.env);
    equal(run.code, 2);
    match(run.stderr, message);
    deepStrictEqual(await snapshotTree(home.home), {});
  });
}

Deno.test("--help and commit --help describe the commands and exit 0", async () => {
  const overall = await runCli(["--help"]);
  equal(overall.code, 0);
  match(overall.stdout, /^Usage: bot-bottle <command> \[options\]$/m);
  match(overall.stdout, /^ {2}commit +snapshot a running bottle into a resumable artifact$/m);
  for (
    const command of ["start", "resume", "ls", "snapshots", "prune", "export", "import", "destroy"]
  ) {
    match(overall.stdout, new RegExp(`^ {2}${command} +\\S`, "m"));
  }
  const commit = await runCli(["commit", "--help"]);
  equal(commit.code, 0);
  match(commit.stdout, /^Usage: bot-bottle commit \[<slug>\] \[options\]$/m);
  match(commit.stdout, /--json/);
  match(commit.stdout, /-y, --yes/);
  deepStrictEqual((await runCli(["help", "commit"])).stdout, commit.stdout);
});

Deno.test("--version prints the version from deno.json, the Deno version and the target", async () => {
  const { default: config } = await import("../deno.json", { with: { type: "json" } });
  const run = await runCli(["--version"]);
  equal(run.code, 0);
  equal(
    run.stdout,
    `bot-bottle ${config.version} (deno ${Deno.version.deno}, ${Deno.build.target})\n`,
  );
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("a BOT_BOTTLE_REGISTRY that is missing, empty or not JSON is named plainly, exit 1", async () => {
  await using home = await tempHome();
  const missing = `${home.home}/missing.json`;
  const broken = `${home.home}/broken.json`;
  const empty = `${home.home}/empty.json`;
  await Deno.writeTextFile(broken, '{ "backends": {\n  nope }', { mode: 0o600 });
  await Deno.writeTextFile(empty, "", { mode: 0o600 });
  const orBuiltIn = ", or unset BOT_BOTTLE_REGISTRY to use the built-in registry";
  for (
    const [path, problem] of [
      [missing, "does not exist; check the path"],
      [broken, "is not valid JSON (at line 2, column 3); fix it"],
      [empty, "is not valid JSON (the file is empty); fix it"],
    ] as const
  ) {
    const run = await runCli(["ls"], { ...home.env, BOT_BOTTLE_REGISTRY: path });
    equal(run.code, 1);
    equal(
      run.stderr,
      `bot-bottle: error: the registry ${path} (from BOT_BOTTLE_REGISTRY) ${problem}${orBuiltIn}\n`,
    );
  }
});
