// install.sh, run under dash (and busybox sh) as `curl … | sh -s -- …` runs
// it, against a loopback stand-in for the GitHub releases: a PATH of only the
// tools each test allows, a private TMPDIR and install directory.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { HOME } from "../scripts/home.ts";
import {
  BASE_TOOLS,
  DASH,
  fakeUname,
  hostTool,
  INSTALL_SH,
  type InstallSandbox,
  installSandbox,
  runInstaller,
  runShell,
  type ShellRun,
} from "./_helpers/installer.ts";
import {
  closedPortUrl,
  fakeBinary,
  fakeRelease,
  HOST_ASSET,
  releaseServer,
  sha256Hex,
  sha256sums,
} from "./_helpers/release_server.ts";
import { present } from "./_helpers/present.ts";

const VERSION = denoJson.version;
const OLD = fakeBinary("0.0.9");

/** Asserts a successful install of `version` at `<dir>/bot-bottle`, and nothing else left. */
async function assertInstalled(run: ShellRun, sandbox: InstallSandbox, version = VERSION) {
  equal(run.code, 0, run.stderr);
  equal(run.stderr, "");
  const target = join(sandbox.dir, "bot-bottle");
  match(run.stdout, new RegExp(`installed ${target}: bot-bottle ${version} \\(`));
  deepStrictEqual(await sandbox.installed(), { "bot-bottle": fakeBinary(version) });
  equal((await Deno.stat(target)).mode! & 0o777, 0o755);
  const ran = await runShell(target, ["--version"], { env: {} });
  equal(ran.stdout, `bot-bottle ${version} (fake release binary)\n`);
  deepStrictEqual(await sandbox.leftovers(), {});
}

/**
 * Asserts a failed install: one error line saying what went wrong (`reason`),
 * exit status `code`, the install directory as it was (`before`) and no
 * temporary file anywhere.
 */
async function assertRefused(
  run: ShellRun,
  sandbox: InstallSandbox,
  reason: RegExp,
  before: Record<string, string>,
  code = 1,
) {
  equal(run.code, code, `exit status; stderr: ${run.stderr}`);
  match(run.stderr, /^bot-bottle install: error: [^\n]+\n$/);
  match(run.stderr, reason);
  ok(!run.stdout.includes("installed"), run.stdout);
  deepStrictEqual(await sandbox.installed(), before);
  deepStrictEqual(await sandbox.leftovers(), {});
}

/** A sandbox with an older bot-bottle already installed in its directory. */
async function withOldInstall(sandbox: InstallSandbox): Promise<Record<string, string>> {
  await Deno.mkdir(sandbox.dir);
  await Deno.writeTextFile(join(sandbox.dir, "bot-bottle"), OLD, { mode: 0o755 });
  return { "bot-bottle": OLD };
}

Deno.test("dash is here to run install.sh as Debian's /bin/sh does", () => {
  ok(DASH, "install dash (apt-get install dash): the installer tests run install.sh under it");
});

Deno.test("install.sh checks the release binary's SHA-256 and installs it", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  await using server = releaseServer(await fakeRelease(VERSION));

  const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
  });

  await assertInstalled(run, sandbox);
  match(run.stdout, new RegExp(`downloading bot-bottle ${VERSION} \\(${HOST_ASSET}\\)`));
  match(run.stdout, new RegExp(`checksum ok: sha256 ${await sha256Hex(fakeBinary(VERSION))}`));
  deepStrictEqual(server.requests, [`v${VERSION}/SHA256SUMS`, `v${VERSION}/${HOST_ASSET}`]);
  // The install directory is not on the installer's PATH: it says how to add it.
  match(run.stdout, new RegExp(`note: ${sandbox.dir} is not on your PATH`));
});

Deno.test(
  "README's curl … | sh -s -- --version X: install.sh piped into sh replaces an older bot-bottle",
  async () => {
    // The one-liner exactly as the README shows it, with the release served from here.
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    const oneLiner = readme.match(/^curl -fsSL (\S+)\/v([^/\s]+)\/install\.sh \| sh -s -- (.+)$/m);
    ok(oneLiner, "README.md shows the installer one-liner");
    equal(oneLiner[2], denoJson.version);
    const args = present(oneLiner[3]).trim().split(/\s+/);
    deepStrictEqual(args, ["--version", denoJson.version]);
    await using sandbox = await installSandbox("curl", "sha256sum");
    await using server = releaseServer(await fakeRelease(VERSION));
    await withOldInstall(sandbox);

    const run = await runShell(DASH!, ["-s", "--", ...args, "--dir", sandbox.dir], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: `${server.url}/` }),
      stdin: await Deno.readTextFile(INSTALL_SH),
    });

    await assertInstalled(run, sandbox);
  },
);

Deno.test("install.sh picks the release asset named for uname -s and uname -m", async () => {
  const platforms: [string, string, string][] = [
    ["Linux", "x86_64", "bot-bottle-x86_64-unknown-linux-gnu"],
    ["Linux", "aarch64", "bot-bottle-aarch64-unknown-linux-gnu"],
    ["Linux", "arm64", "bot-bottle-aarch64-unknown-linux-gnu"],
    ["Darwin", "x86_64", "bot-bottle-x86_64-apple-darwin"],
    ["Darwin", "arm64", "bot-bottle-aarch64-apple-darwin"],
  ];
  await using server = releaseServer(await fakeRelease(VERSION));
  for (const [os, arch, asset] of platforms) {
    await using sandbox = await installSandbox("curl", "sha256sum");
    await sandbox.addScript("uname", fakeUname(os, arch));
    server.requests.length = 0;

    const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
    });

    await assertInstalled(run, sandbox);
    deepStrictEqual(server.requests, [`v${VERSION}/SHA256SUMS`, `v${VERSION}/${asset}`], os);
  }
});

Deno.test("install.sh takes the version and directory from BOT_BOTTLE_VERSION and BOT_BOTTLE_INSTALL_DIR", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  await using server = releaseServer(await fakeRelease("0.2.0-rc.1"));

  const run = await runInstaller([], {
    env: sandbox.env({
      BOT_BOTTLE_DOWNLOAD_URL: server.url,
      BOT_BOTTLE_VERSION: "0.2.0-rc.1",
      BOT_BOTTLE_INSTALL_DIR: sandbox.dir,
    }),
  });

  await assertInstalled(run, sandbox, "0.2.0-rc.1");
});

Deno.test("install.sh installs to ~/.local/bin for a user who is not root, creating it", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  await using server = releaseServer(await fakeRelease(VERSION));
  await sandbox.addScript("id", '#!/bin/sh\n[ "$1" = -u ] && echo 1000 || echo "uid=1000(dev)"\n');
  const target = join(sandbox.home, ".local", "bin", "bot-bottle");

  const run = await runInstaller(["--version", VERSION], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
  });

  equal(run.code, 0, run.stderr);
  match(run.stdout, new RegExp(`installed ${target}: bot-bottle ${VERSION} `));
  equal(await Deno.readTextFile(target), fakeBinary(VERSION));
  match(run.stdout, /export PATH=".*\/home\/\.local\/bin:\$PATH"/);
});

Deno.test("install.sh accepts SHA256SUMS written in binary mode (*name) with CRLF line ends", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  const files = await fakeRelease(VERSION);
  const hash = await sha256Hex(present(files[`v${VERSION}/${HOST_ASSET}`]));
  files[`v${VERSION}/SHA256SUMS`] = `${hash.toUpperCase()} *${HOST_ASSET}\r\n`;
  await using server = releaseServer(files);

  const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
  });

  await assertInstalled(run, sandbox);
});

Deno.test("install.sh refuses a download whose SHA-256 does not match, installing nothing", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  const files = await fakeRelease(VERSION);
  files[`v${VERSION}/${HOST_ASSET}`] += "# altered after the checksums were made\n";
  await using server = releaseServer(files);
  const before = await withOldInstall(sandbox);

  const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
  });

  await assertRefused(
    run,
    sandbox,
    new RegExp(
      `checksum mismatch for ${server.url}/v${VERSION}/${HOST_ASSET}: SHA256SUMS says [0-9a-f]{64}, the download is [0-9a-f]{64}; nothing was installed; .*run the installer again`,
    ),
    before,
  );
});

Deno.test("install.sh refuses an asset that SHA256SUMS does not list, without downloading it", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  const files = await fakeRelease(VERSION);
  files[`v${VERSION}/SHA256SUMS`] = present(files[`v${VERSION}/SHA256SUMS`])
    .split("\n").filter((line) => !line.endsWith(`  ${HOST_ASSET}`)).join("\n");
  await using server = releaseServer(files);
  const before = await withOldInstall(sandbox);

  const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
  });

  await assertRefused(
    run,
    sandbox,
    new RegExp(
      `SHA256SUMS lists no SHA-256 for ${HOST_ASSET}, so it cannot be checked; nothing was installed`,
    ),
    before,
  );
  deepStrictEqual(server.requests, [`v${VERSION}/SHA256SUMS`]);
});

Deno.test("install.sh reports a release asset that is missing (404), installing nothing", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  const files = await fakeRelease(VERSION);
  delete files[`v${VERSION}/${HOST_ASSET}`];
  await using server = releaseServer(files);
  const before = await withOldInstall(sandbox);

  const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
  });

  await assertRefused(
    run,
    sandbox,
    new RegExp(
      `could not download ${server.url}/v${VERSION}/${HOST_ASSET} \\(curl: \\(22\\) .*404\\); nothing was installed; check that the mirror BOT_BOTTLE_DOWNLOAD_URL=${server.url} is reachable and serves release v${VERSION}`,
    ),
    before,
  );
});

Deno.test("install.sh reports a release that does not exist, creating no install directory", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  await using server = releaseServer(await fakeRelease(VERSION));

  const run = await runInstaller(["--version", "9.9.9", "--dir", sandbox.dir], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
  });

  await assertRefused(
    run,
    sandbox,
    new RegExp(`could not download ${server.url}/v9\\.9\\.9/SHA256SUMS \\(curl: \\(22\\) .*404\\)`),
    {},
  );
  ok(!(await Deno.stat(sandbox.dir).then(() => true, () => false)), "the directory was created");
});

Deno.test("install.sh reports an unreachable download server, installing nothing", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  const url = closedPortUrl();
  const before = await withOldInstall(sandbox);

  const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
    env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: url }),
  });

  await assertRefused(
    run,
    sandbox,
    new RegExp(
      `could not download ${url}/v${VERSION}/SHA256SUMS \\(curl: \\(7\\) .*\\); nothing was installed; check that the mirror`,
    ),
    before,
  );
});

Deno.test("install.sh refuses a platform with no release (uname: FreeBSD, riscv64)", async () => {
  for (
    const [os, arch] of [["FreeBSD", "amd64"], ["Linux", "riscv64"], ["Darwin", "ppc"]] as const
  ) {
    await using sandbox = await installSandbox("curl", "sha256sum");
    await using server = releaseServer(await fakeRelease(VERSION));
    await sandbox.addScript("uname", fakeUname(os, arch));
    const before = await withOldInstall(sandbox);

    const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
    });

    await assertRefused(
      run,
      sandbox,
      new RegExp(
        `no bot-bottle release is built for ${os} ${arch} \\(only for Linux and macOS on x86_64 or arm64\\); nothing was installed; .*deno run -A main\\.ts`,
      ),
      before,
    );
    deepStrictEqual(server.requests, []);
  }
});

Deno.test("install.sh keeps the old bot-bottle when the new one does not run or is another version", async () => {
  for (
    const [binary, reason] of [
      [
        fakeBinary(VERSION, "0.0.8"),
        /the downloaded binary reports "bot-bottle 0\.0\.8 \(fake release binary\)", not bot-bottle 0\.1\.0; nothing was installed/,
      ],
      [
        "#!/bin/sh\necho 'cannot execute: required file not found' >&2\nexit 127\n",
        /the downloaded bot-bottle does not run on this machine \(cannot execute: required file not found\); nothing was installed; the Linux builds need glibc/,
      ],
    ] as const
  ) {
    await using sandbox = await installSandbox("curl", "sha256sum");
    const files = await fakeRelease(VERSION);
    files[`v${VERSION}/${HOST_ASSET}`] = binary;
    files[`v${VERSION}/SHA256SUMS`] = await sha256sums({ [HOST_ASSET]: binary });
    await using server = releaseServer(files);
    const before = await withOldInstall(sandbox);

    const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
    });

    // Also no .bot-bottle.XXXXXX temporary file beside the old binary.
    await assertRefused(run, sandbox, reason, before);
  }
});

Deno.test("install.sh explains its usage errors with exit status 2", async () => {
  await using sandbox = await installSandbox("curl", "sha256sum");
  const cases: [string[], RegExp][] = [
    [
      [],
      /no version given: pass --version X\.Y\.Z \(e\.g\. --version 0\.1\.0\) or set BOT_BOTTLE_VERSION/,
    ],
    [
      ["--version"],
      /--version needs a value, e\.g\. --version 0\.1\.0; run "sh install\.sh --help" for usage/,
    ],
    [
      ["--version", "v0.1.0"],
      /version "v0\.1\.0" is not a release version X\.Y\.Z \(e\.g\. 0\.1\.0 or 0\.2\.0-rc\.1\)/,
    ],
    [["--version", "0.1"], /version "0\.1" is not a release version X\.Y\.Z/],
    [["--version", "0.1.0; rm -rf /"], /version "0\.1\.0; rm -rf \/" is not a release version/],
    [["--version", "0.1.0\n"], /is not a release version/],
    [
      ["--version", VERSION, "--force"],
      /unknown argument "--force"; run "sh install\.sh --help" for usage/,
    ],
  ];
  for (const [args, reason] of cases) {
    const run = await runInstaller(args, { env: sandbox.env() });
    await assertRefused(run, sandbox, reason, {}, 2);
  }
});

Deno.test("install.sh --help shows the options and the download URL a mirror replaces", async () => {
  await using sandbox = await installSandbox();

  const run = await runInstaller(["--help"], { env: sandbox.env() });

  equal(run.code, 0, run.stderr);
  match(run.stdout, /^usage: sh install\.sh --version X\.Y\.Z \[--dir DIR\]\n/);
  // The default, release.json's download base, on the line after the variable.
  equal(run.stdout.match(/BOT_BOTTLE_DOWNLOAD_URL .*\n\s+(\S+)\);\n/)?.[1], HOME.downloadUrl);
  match(run.stdout, /URL\/vX\.Y\.Z\/<asset> and\n\s+URL\/vX\.Y\.Z\/SHA256SUMS/);
});

Deno.test({
  name: `install.sh uses wget where there is no curl${
    hostTool("wget") ? "" : " [ignored: wget is not installed]"
  }`,
  ignore: !hostTool("wget"),
  async fn() {
    await using server = releaseServer(await fakeRelease(VERSION));
    {
      await using sandbox = await installSandbox("wget", "sha256sum");
      const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
        env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
      });
      await assertInstalled(run, sandbox);
    }
    {
      await using sandbox = await installSandbox("wget", "sha256sum");
      const before = await withOldInstall(sandbox);
      const run = await runInstaller(["--version", "9.9.9", "--dir", sandbox.dir], {
        env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
      });
      await assertRefused(
        run,
        sandbox,
        new RegExp(
          `could not download ${server.url}/v9\\.9\\.9/SHA256SUMS \\(.*404.*\\); nothing was installed`,
        ),
        before,
      );
    }
  },
});

Deno.test({
  name: `install.sh checks with shasum -a 256 where there is no sha256sum (macOS)${
    hostTool("shasum") ? "" : " [ignored: shasum is not installed]"
  }`,
  ignore: !hostTool("shasum"),
  async fn() {
    await using sandbox = await installSandbox("curl", "shasum");
    await using server = releaseServer(await fakeRelease(VERSION));
    const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
    });
    await assertInstalled(run, sandbox);
  },
});

Deno.test("install.sh names what is missing when there is no curl, wget or sha256sum", async () => {
  await using server = releaseServer(await fakeRelease(VERSION));
  for (
    const [tools, reason] of [
      [
        ["sha256sum"],
        /neither curl nor wget is installed; install one of them \(e\.g\. apt-get install curl\)/,
      ],
      [["curl"], /neither sha256sum nor shasum is installed, so the download cannot be checked/],
    ] as const
  ) {
    await using sandbox = await installSandbox(...tools);
    const run = await runInstaller(["--version", VERSION, "--dir", sandbox.dir], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
    });
    await assertRefused(run, sandbox, reason, {});
  }
});

const BUSYBOX = hostTool("busybox");

Deno.test({
  name: `install.sh runs on busybox alone (sh, wget, sha256sum), as in a minimal image${
    BUSYBOX ? "" : " [ignored: busybox is not installed]"
  }`,
  ignore: !BUSYBOX,
  async fn() {
    await using sandbox = await installSandbox();
    // Every tool is a busybox applet, the host's links replaced.
    for (const tool of [...BASE_TOOLS, "wget", "sha256sum"]) {
      await Deno.remove(join(sandbox.tools, tool)).catch(() => {});
      await Deno.symlink(BUSYBOX!, join(sandbox.tools, tool));
    }
    await using server = releaseServer(await fakeRelease(VERSION));

    const run = await runShell(BUSYBOX!, [
      "sh",
      INSTALL_SH,
      "--version",
      VERSION,
      "--dir",
      sandbox.dir,
    ], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
    });

    await assertInstalled(run, sandbox);
  },
});

Deno.test({
  name: `install.sh removes its temporary files when interrupted mid-download${
    hostTool("setsid") ? "" : " [ignored: setsid is not installed]"
  }`,
  ignore: !hostTool("setsid"),
  async fn() {
    await using sandbox = await installSandbox("curl", "sha256sum");
    await using server = releaseServer(await fakeRelease(VERSION), [`v${VERSION}/${HOST_ASSET}`]);
    const before = await withOldInstall(sandbox);
    let pid = 0;

    // setsid: the installer leads its own process group, so a signal reaches it
    // and its curl together, as Ctrl-C on a terminal does.
    const running = runShell(hostTool("setsid")!, [
      DASH!,
      INSTALL_SH,
      "--version",
      VERSION,
      "--dir",
      sandbox.dir,
    ], {
      env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }),
      started: (child) => pid = child.pid,
    });
    for (let waited = 0; !server.requests.includes(`v${VERSION}/${HOST_ASSET}`); waited += 50) {
      if (waited > 20_000) {
        throw new Error(`the installer never asked for the asset: ${server.requests}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    ok(Object.keys(await sandbox.leftovers()).length > 0, "the download had started in TMPDIR");
    Deno.kill(-pid, "SIGTERM");
    const run = await running;

    equal(run.code, 143, run.stderr);
    deepStrictEqual(await sandbox.installed(), before);
    deepStrictEqual(await sandbox.leftovers(), {});
  },
});

const SHELLCHECK = hostTool("shellcheck");

Deno.test({
  name: `install.sh is POSIX sh by shellcheck -s sh${
    SHELLCHECK ? "" : " [ignored: shellcheck is not installed]"
  }`,
  ignore: !SHELLCHECK,
  async fn() {
    const run = await runShell(SHELLCHECK!, ["-s", "sh", INSTALL_SH], { env: {} });
    equal(run.code, 0, run.stdout + run.stderr);
  },
});

for (const file of ["docs/install.md", "README.md"]) {
  Deno.test(`${file} pins the current release (deno.json's version) in its commands`, async () => {
    const doc = await Deno.readTextFile(new URL(`../${file}`, import.meta.url));
    const pinned = [
      ...doc.matchAll(
        /--version (\d[^\s`]*)|\/v(\d[^/\s]*)\/install\.sh|bot-bottle:1": \{ "version": "([^"]+)"/g,
      ),
    ].map((found) => found[1] ?? found[2] ?? found[3]);
    ok(pinned.length >= 3, `${file} shows the one-liner and the Feature with a pinned version`);
    deepStrictEqual(new Set(pinned), new Set([denoJson.version]));
  });
}

const SETPRIV = hostTool("setpriv");
const asNobody = SETPRIV && Deno.uid() === 0 ? undefined : "needs root and setpriv (util-linux)";

Deno.test({
  name: `install.sh tells a user who cannot write to the directory to use sudo or --dir${
    asNobody ? ` [ignored: ${asNobody}]` : ""
  }`,
  ignore: asNobody !== undefined,
  async fn() {
    await using sandbox = await installSandbox("curl", "sha256sum");
    await using server = releaseServer(await fakeRelease(VERSION));
    const before = await withOldInstall(sandbox);
    await Deno.chmod(sandbox.root, 0o755);
    await Deno.chmod(sandbox.tmp, 0o1777);

    const run = await runShell(
      SETPRIV!,
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        DASH!,
        INSTALL_SH,
        "--version",
        VERSION,
        "--dir",
        sandbox.dir,
      ],
      { env: sandbox.env({ BOT_BOTTLE_DOWNLOAD_URL: server.url }) },
    );

    await assertRefused(
      run,
      sandbox,
      new RegExp(
        `cannot write to ${sandbox.dir}; run the installer as root \\(e\\.g\\. \\| sudo sh -s -- \\.\\.\\.\\) or pass --dir`,
      ),
      before,
    );
    deepStrictEqual(server.requests, [], "nothing was downloaded");
  },
});
