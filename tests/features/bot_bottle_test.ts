// The Dev Container Feature features/bot-bottle/: its metadata checked against
// the Features schema and packaged by the official devcontainer CLI, and its
// install.sh run as the devcontainer tooling runs it (as root, in the
// Feature's folder, options as upper-cased environment variables) against a
// loopback stand-in for the GitHub releases.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Ajv } from "ajv";
import denoJson from "../../deno.json" with { type: "json" };
import feature from "../../features/bot-bottle/devcontainer-feature.json" with { type: "json" };
import schema from "./_devcontainer_feature.schema.json" with { type: "json" };
import { DENO_DIR } from "../_helpers/cli.ts";
import { docker, dockerTest, TEST_IMAGE } from "../_helpers/docker.ts";
import {
  DASH,
  FEATURE_DIR,
  hostTool,
  INSTALL_SH,
  type InstallSandbox,
  installSandbox,
  noPrivateMountsReason,
  runShell,
  type ShellRun,
  withPrivateMounts,
} from "../_helpers/installer.ts";
import { fakeBinary, fakeRelease, HOST_ASSET, releaseServer } from "../_helpers/release_server.ts";
import { featureSnippet } from "../../scripts/home.ts";
import { present } from "../_helpers/present.ts";

/** The release the Feature installs by default. */
const VERSION = denoJson.version;

/**
 * The devcontainer CLI that packages and publishes Features, run by Deno from
 * npm as deno.json declares it and deno.lock pins it (fetched by the set-up).
 */
const DEVCONTAINER_CLI = denoJson.imports["@devcontainers/cli"];

/** The project's configuration and lock, which runs of npm tools use. */
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const LOCK = new URL("../../deno.lock", import.meta.url).pathname;

/**
 * Asserts that `run` installed the current release in the sandbox's
 * directory, which it calls `shown` (`/usr/local/bin` in a private mount
 * namespace), and left no temporary file.
 */
async function assertInstalled(run: ShellRun, sandbox: InstallSandbox, shown = sandbox.dir) {
  equal(run.code, 0, run.stderr);
  match(run.stdout, new RegExp(`installed ${shown}/bot-bottle: bot-bottle ${VERSION} \\(`));
  equal(await Deno.readTextFile(join(sandbox.dir, "bot-bottle")), fakeBinary(VERSION));
  equal((await Deno.stat(join(sandbox.dir, "bot-bottle"))).mode! & 0o777, 0o755);
  deepStrictEqual(await sandbox.leftovers(), {});
}

function ignoredWithoutPrivateMounts(name: string) {
  return {
    name: noPrivateMountsReason ? `${name} [ignored: ${noPrivateMountsReason}]` : name,
    ignore: noPrivateMountsReason !== undefined,
  };
}

Deno.test("the Feature ships install.sh byte for byte as bot-bottle-install.sh", async () => {
  const shipped = join(FEATURE_DIR, "bot-bottle-install.sh");
  ok(
    (await Deno.readTextFile(shipped)) === (await Deno.readTextFile(INSTALL_SH)),
    "features/bot-bottle/bot-bottle-install.sh differs from install.sh: " +
      "cp install.sh features/bot-bottle/bot-bottle-install.sh",
  );
  for (const script of [shipped, join(FEATURE_DIR, "install.sh"), INSTALL_SH]) {
    equal((await Deno.stat(script)).mode! & 0o111, 0o111, `${script} is executable`);
  }
});

Deno.test("devcontainer-feature.json is valid by the Features schema", () => {
  const validate = new Ajv({ strict: true, allErrors: true }).compile(schema);
  ok(validate(feature), JSON.stringify(validate.errors, null, 2));
  // The schema refuses what the spec refuses: a test that could not fail would prove nothing.
  for (
    const bad of [
      { ...feature, id: undefined },
      { ...feature, version: "1" },
      { ...feature, options: { version: { type: "str", default: "0.1.0" } } },
      { ...feature, options: { "my-version": { type: "string", default: "0.1.0" } } },
      { ...feature, installsAfter: "common-utils" },
      { ...feature, instalsAfter: [] },
    ]
  ) {
    ok(!validate(JSON.parse(JSON.stringify(bad))), JSON.stringify(bad));
  }
});

Deno.test("the Feature's version option defaults to the current release (deno.json)", async () => {
  equal(feature.id, "bot-bottle", "the id is the Feature's folder name");
  equal(feature.options.version.default, VERSION);
  ok(feature.options.version.proposals.includes(VERSION), "the proposals list the current release");
  equal(feature.options.downloadUrl.default, "");
  const readme = await Deno.readTextFile(join(FEATURE_DIR, "README.md"));
  ok(
    readme.includes(featureSnippet(VERSION)),
    "features/bot-bottle/README.md shows the devcontainer.json snippet pinned to the current release",
  );
});

/**
 * Packages features/ with the official devcontainer CLI, as a release
 * publishes it (`devcontainer features publish features`), checks the
 * collection's index, and unpacks the Feature's package into a folder of its
 * own, as a devcontainer build gets it. Returns that folder.
 */
async function packageFeature(sandbox: InstallSandbox): Promise<string> {
  const out = join(sandbox.root, "out");
  const packed = await runShell(
    Deno.execPath(),
    [
      "run",
      "--allow-all",
      "--quiet",
      // Nothing is fetched at test time: the set-up (deno install) cached the package.
      "--cached-only",
      "--frozen",
      "--config",
      CONFIG,
      "--lock",
      LOCK,
      DEVCONTAINER_CLI,
      "features",
      "package",
      join(FEATURE_DIR, ".."),
      "--output-folder",
      out,
    ],
    {
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: sandbox.home,
        DENO_DIR,
        NO_COLOR: "1",
      },
      cwd: sandbox.root,
    },
  );
  match(packed.stdout + packed.stderr, /Packaged 1 features!/, packed.stdout + packed.stderr);
  const index = JSON.parse(await Deno.readTextFile(join(out, "devcontainer-collection.json")));
  deepStrictEqual(
    index.features.map((entry: { id: string; version: string }) => [entry.id, entry.version]),
    [["bot-bottle", feature.version]],
  );
  const unpacked = join(sandbox.root, "bot-bottle_0");
  await Deno.mkdir(unpacked);
  const untar = await runShell(
    hostTool("tar")!,
    ["-xf", join(out, "devcontainer-feature-bot-bottle.tgz"), "-C", unpacked],
    { env: {} },
  );
  equal(untar.code, 0, untar.stderr);
  return unpacked;
}

Deno.test(
  "the devcontainer CLI packages the Feature with its installer, and the package installs as the tooling runs it",
  async () => {
    await using sandbox = await installSandbox("curl", "sha256sum");
    await using server = releaseServer(await fakeRelease(VERSION));
    const unpacked = await packageFeature(sandbox);
    const files = (await Array.fromAsync(Deno.readDir(unpacked))).map((entry) => entry.name).sort();
    deepStrictEqual(files, [
      "README.md",
      "bot-bottle-install.sh",
      "devcontainer-feature.json",
      "install.sh",
    ]);

    const run = await runShell("./install.sh", [], {
      cwd: unpacked,
      env: sandbox.env({ VERSION, DOWNLOADURL: server.url, BOT_BOTTLE_INSTALL_DIR: sandbox.dir }),
    });

    await assertInstalled(run, sandbox);
    deepStrictEqual(server.requests, [`v${VERSION}/SHA256SUMS`, `v${VERSION}/${HOST_ASSET}`]);
  },
);

dockerTest(
  "the packaged Feature installs bot-bottle in a busybox container with no curl, as a devcontainer build runs it",
  async () => {
    await using sandbox = await installSandbox();
    await using server = releaseServer(await fakeRelease(VERSION));
    const unpacked = await packageFeature(sandbox);
    const folder = "/tmp/dev-container-features/bot-bottle_0";

    // Host networking: the container reaches the loopback release server.
    const output = await docker(
      "run",
      "--rm",
      "--network",
      "host",
      "--volume",
      `${unpacked}:${folder}:ro`,
      "--workdir",
      folder,
      "--env",
      `VERSION=${VERSION}`,
      "--env",
      `DOWNLOADURL=${server.url}`,
      TEST_IMAGE,
      "sh",
      "-c",
      "busybox --install -s /bin && ./install.sh && /usr/local/bin/bot-bottle --version",
    );

    match(output, new RegExp(`installed /usr/local/bin/bot-bottle: bot-bottle ${VERSION} \\(`));
    equal(output.split("\n").at(-1), `bot-bottle ${VERSION} (fake release binary)`);
    deepStrictEqual(server.requests, [`v${VERSION}/SHA256SUMS`, `v${VERSION}/${HOST_ASSET}`]);
  },
);

Deno.test("sh install.sh in the Feature's folder honours BOT_BOTTLE_DOWNLOAD_URL", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  await using server = releaseServer(await fakeRelease(VERSION));

  const run = await runShell(DASH!, ["install.sh"], {
    cwd: FEATURE_DIR,
    env: sandbox.env({
      VERSION,
      BOT_BOTTLE_DOWNLOAD_URL: server.url,
      BOT_BOTTLE_INSTALL_DIR: sandbox.dir,
    }),
  });

  await assertInstalled(run, sandbox);
});

Deno.test({
  ...ignoredWithoutPrivateMounts("the Feature installs to /usr/local/bin, as root"),
  async fn() {
    await using sandbox = await installSandbox("curl", "sha256sum");
    await using server = releaseServer(await fakeRelease(VERSION));
    await Deno.mkdir(sandbox.dir);
    await Deno.writeTextFile(join(sandbox.dir, "other-tool"), "#!/bin/sh\n", { mode: 0o755 });

    // In a private mount namespace /usr/local/bin is the test's directory.
    const [program, ...args] = withPrivateMounts({ "/usr/local/bin": sandbox.dir }, [
      "./install.sh",
    ]);
    const run = await runShell(present(program), args, {
      cwd: FEATURE_DIR,
      env: sandbox.env({ VERSION, DOWNLOADURL: server.url }),
    });

    await assertInstalled(run, sandbox, "/usr/local/bin");
    deepStrictEqual(Object.keys(await sandbox.installed()).sort(), ["bot-bottle", "other-tool"]);
  },
});

Deno.test({
  ...ignoredWithoutPrivateMounts(
    "on an image with neither curl nor wget, the Feature installs curl with apt-get first",
  ),
  async fn() {
    await using sandbox = await installSandbox("sha256sum");
    await using server = releaseServer(await fakeRelease(VERSION));
    const lists = join(sandbox.root, "apt-lists");
    await Deno.mkdir(lists);
    // apt-get as on a fresh debian image: "update" fetches package lists,
    // "install curl" puts curl on the PATH.
    const log = join(sandbox.root, "apt-get.log");
    await sandbox.addScript(
      "apt-get",
      [
        "#!/bin/sh",
        `echo "$*" >>${log}`,
        'if [ "$1" = update ]; then : >/var/lib/apt/lists/deb.debian.org_dists_bookworm_main_binary-amd64_Packages; fi',
        `if [ "$1" = install ]; then ${hostTool("ln")} -s ${
          hostTool("curl")
        } ${sandbox.tools}/curl; fi`,
        "",
      ].join("\n"),
    );

    const [program, ...args] = withPrivateMounts(
      { "/usr/local/bin": sandbox.dir, "/var/lib/apt/lists": lists },
      ["./install.sh"],
    );
    await Deno.mkdir(sandbox.dir);
    const run = await runShell(present(program), args, {
      cwd: FEATURE_DIR,
      env: sandbox.env({ VERSION, DOWNLOADURL: server.url }),
    });

    await assertInstalled(run, sandbox, "/usr/local/bin");
    match(run.stdout, /installing curl and ca-certificates with apt-get/);
    equal(
      await Deno.readTextFile(log),
      "update -qq\ninstall -y -qq --no-install-recommends curl ca-certificates\n",
    );
    deepStrictEqual(await Array.fromAsync(Deno.readDir(lists)), [], "apt's lists removed again");
  },
});

Deno.test("the Feature refuses a download with the wrong SHA-256, installing nothing", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  const files = await fakeRelease(VERSION);
  files[`v${VERSION}/${HOST_ASSET}`] += "# altered\n";
  await using server = releaseServer(files);

  const run = await runShell(DASH!, ["install.sh"], {
    cwd: FEATURE_DIR,
    env: sandbox.env({ VERSION, DOWNLOADURL: server.url, BOT_BOTTLE_INSTALL_DIR: sandbox.dir }),
  });

  equal(run.code, 1);
  match(
    run.stderr,
    /^bot-bottle install: error: checksum mismatch for [^\n]*; nothing was installed;[^\n]*\n$/,
  );
  deepStrictEqual(await sandbox.installed(), {});
  deepStrictEqual(await sandbox.leftovers(), {});
});

Deno.test("the Feature says which option to set when its version is empty or not X.Y.Z", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  for (
    const [version, reason] of [
      [
        "",
        /^bot-bottle install: error: the Feature's "version" option is empty; set it in devcontainer\.json among the Feature's options, e\.g\. \{ "version": "\d+\.\d+\.\d+" \}\n$/,
      ],
      ["latest", /^bot-bottle install: error: version "latest" is not a release version X\.Y\.Z/],
    ] as const
  ) {
    const run = await runShell(DASH!, ["install.sh"], {
      cwd: FEATURE_DIR,
      env: sandbox.env({ VERSION: version, BOT_BOTTLE_INSTALL_DIR: sandbox.dir }),
    });
    ok(run.code !== 0);
    match(run.stderr, reason);
    deepStrictEqual(await sandbox.installed(), {});
  }
});

const SHELLCHECK = hostTool("shellcheck");

Deno.test({
  name: `the Feature's install.sh is POSIX sh by shellcheck -s sh${
    SHELLCHECK ? "" : " [ignored: shellcheck is not installed]"
  }`,
  ignore: !SHELLCHECK,
  async fn() {
    const run = await runShell(SHELLCHECK!, ["-s", "sh", join(FEATURE_DIR, "install.sh")], {
      env: {},
    });
    equal(run.code, 0, run.stdout + run.stderr);
  },
});
