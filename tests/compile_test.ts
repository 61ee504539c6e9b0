// The standalone binary: scripts/compile.ts (deno task compile) builds it
// for this machine, and it runs without Deno or the source: --version,
// --help, and a commit of a real Docker bottle.
//
// `deno compile` needs denort, Deno's runtime, from dl.deno.land or
// DENO_DIR's cache, or DENORT_BIN. Without any, these tests are ignored, with
// the reason on stderr.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import builtinRegistry from "../registry.json" with { type: "json" };
import { compile, writeSha256Sums } from "../scripts/compile.ts";
import { cliEnv, type CliRun, DENO_DIR } from "./_helpers/cli.ts";
import { reducedEnv } from "./_helpers/env.ts";
import { docker, dockerTest, startBottle } from "./_helpers/docker.ts";
import { tempHome } from "./_helpers/temp_home.ts";

const TARGET = Deno.build.target;
const VERSION = Deno.version.deno;

/** Why `deno compile` cannot get its runtime here, or `undefined` when it can. */
async function whyNoRuntime(): Promise<string | undefined> {
  const override = Deno.env.get("DENORT_BIN");
  if (override) return undefined; // used as it is: a wrong path fails the test, loudly
  const cached = join(DENO_DIR, "dl", "release", `v${VERSION}`, `denort-${TARGET}.zip`);
  if (existsSync(cached)) return undefined;
  const url = `https://dl.deno.land/release/v${VERSION}/denort-${TARGET}.zip`;
  try {
    const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(3000) });
    await response.body?.cancel();
    if (response.ok) return undefined;
    return `${url} answered ${response.status}`;
  } catch (error) {
    return `cannot reach ${url} (${error instanceof Error ? error.message : error})`;
  }
}

const noRuntime = await whyNoRuntime();
if (noRuntime) {
  console.error(
    `compile_test: ignored: deno compile needs its runtime (denort) and ${noRuntime}; ` +
      `set DENORT_BIN=/path/to/denort (Deno ${VERSION}, ${TARGET}) to run these tests offline`,
  );
}

/** A test that needs the compiled binary: ignored, with the reason, without a runtime. */
function compileTest(name: string, fn: () => Promise<void>, needsDocker = false): void {
  if (noRuntime) {
    Deno.test({ name: `${name} [ignored: no denort: ${noRuntime}]`, ignore: true, fn });
  } else if (needsDocker) {
    dockerTest(name, fn);
  } else {
    Deno.test({ name, fn });
  }
}

let built: Promise<string> | undefined;

/** Compiles the binary once per run, into a temporary directory. */
function binary(): Promise<string> {
  return built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "bot-bottle-compiled-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const output = join(dir, "bot-bottle");
    await compile(output);
    return output;
  })();
}

/** Runs the binary with only `env` (and PATH), as a user without Deno would. */
async function run(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const { PATH, NO_COLOR } = cliEnv();
  const output = await new Deno.Command(await binary(), {
    args,
    env: reducedEnv({
      ...PATH === undefined ? {} : { PATH },
      ...NO_COLOR === undefined ? {} : { NO_COLOR },
      ...env,
    }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

compileTest("the compiled binary prints its version, Deno's and the target", async () => {
  const result = await run(["--version"]);
  equal(result.code, 0, result.stderr);
  equal(result.stdout, `bot-bottle ${denoJson.version} (deno ${VERSION}, ${TARGET})\n`);
});

compileTest("the compiled binary prints the help with every command", async () => {
  const result = await run(["--help"]);
  equal(result.code, 0, result.stderr);
  match(result.stdout, /^Usage: bot-bottle <command> \[options\]$/m);
  for (const command of ["start", "commit", "resume", "ls", "export", "import", "completions"]) {
    match(result.stdout, new RegExp(`^ {2}${command} +\\S`, "m"));
  }
});

compileTest("the compiled binary loads the freezers the registry names", async () => {
  // ls loads the registry and asks each backend with a bottle: an unknown
  // module would fail here, not at the first commit.
  await using home = await tempHome();
  await home.writeBottle("gone-abc12");
  const result = await run(["ls", "--json"], home.env);
  equal(result.code, 0, result.stderr);
  equal(JSON.parse(result.stdout)[0].slug, "gone-abc12");
});

compileTest(
  'the compiled binary loads "builtin:" modules named by a user registry (BOT_BOTTLE_REGISTRY)',
  async () => {
    await using home = await tempHome();
    const registry = structuredClone(builtinRegistry) as {
      backends: Record<string, { freezer: string }>;
    };
    for (const [name, entry] of Object.entries(registry.backends)) {
      entry.freezer = `builtin:${name}`;
    }
    const path = join(home.home, "registry.json");
    await Deno.writeTextFile(path, JSON.stringify(registry), { mode: 0o644 });
    for (const backend of Object.keys(registry.backends)) {
      await home.writeBottle(`gone-${backend}`, { identity: `gone-${backend}`, backend });
    }
    const result = await run(["ls", "--json"], { ...home.env, BOT_BOTTLE_REGISTRY: path });
    const listed = JSON.parse(result.stdout) as { slug: string; backend: string }[];
    // Each backend was asked (docker answers here; the others may fail with their CLI missing).
    deepStrictEqual(
      listed.map((bottle) => bottle.backend).sort(),
      Object.keys(registry.backends).sort(),
    );
    ok(!/cannot load|must export/.test(result.stderr), result.stderr);
  },
);

compileTest(
  "the compiled binary commits a running Docker bottle and records it",
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle();
    await bottle.exec("sh", "-c", "echo compiled > /marker");
    const dir = await home.writeBottle(bottle.slug);

    const result = await run(["commit", bottle.slug], home.env);

    equal(result.code, 0, result.stderr);
    match(result.stderr, new RegExp(`committed bottle "${bottle.slug}" to ${bottle.image}\n`));
    equal(await Deno.readTextFile(join(dir, "committed-image")), `${bottle.image}\n`);
    equal(await docker("run", "--rm", bottle.image, "cat", "/marker"), "compiled");
  },
  true,
);

Deno.test("writeSha256Sums() writes a SHA256SUMS that sha256sum -c accepts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-sums-" });
  try {
    await Deno.writeTextFile(join(dir, "bot-bottle-a"), "one");
    await Deno.writeFile(join(dir, "bot-bottle-b"), new Uint8Array(300_000).fill(7));
    const path = await writeSha256Sums(dir, ["bot-bottle-a", "bot-bottle-b"]);
    equal(path, join(dir, "SHA256SUMS"));
    const sums = await Deno.readTextFile(path);
    match(sums, /^[0-9a-f]{64} {2}bot-bottle-a\n[0-9a-f]{64} {2}bot-bottle-b\n$/);
    // sha256("one")
    equal(
      sums.split("\n")[0],
      "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed  bot-bottle-a",
    );
    const check = await new Deno.Command("sha256sum", {
      args: ["-c", "SHA256SUMS"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(check.code, 0, new TextDecoder().decode(check.stderr));
    // A changed file no longer matches.
    await Deno.writeTextFile(join(dir, "bot-bottle-a"), "two");
    const recheck = await new Deno.Command("sha256sum", {
      args: ["-c", "SHA256SUMS"],
      cwd: dir,
      stdout: "null",
      stderr: "null",
    }).output();
    equal(recheck.code, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
