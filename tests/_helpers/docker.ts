// The real Docker engine for integration tests: a check that it is there, a
// small local image (no registry can be reached), and bottles that clean up.

import { $ } from "dax";
import { BUSYBOX_IMAGE, ensureBusyboxImage, whyNoBusybox } from "../../scripts/busybox_image.ts";

/** The local test image, made from a static busybox with `docker import`. */
export const TEST_IMAGE = BUSYBOX_IMAGE;

/** Runs docker, returning its trimmed stdout; throws with its stderr on failure. */
export async function docker(...args: string[]): Promise<string> {
  const result = await $`docker ${args}`.stdin("null").stdout("piped").stderr("piped").noThrow();
  if (result.code !== 0) {
    throw new Error(`docker ${args.join(" ")} failed (${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout.trim();
}

async function whyNoDocker(): Promise<string | undefined> {
  if (!(await $.commandExists("docker"))) return "the docker CLI is not installed";
  const info = await $`docker info --format ${"{{.ServerVersion}}"}`
    .stdin("null").stdout("piped").stderr("piped").noThrow().timeout(20_000);
  if (info.code !== 0) {
    return `the Docker engine is not reachable: ${info.stderr.trim().split("\n").at(-1)}`;
  }
  return await whyNoBusybox();
}

/** Why the Docker tests cannot run here, or `undefined` when they can. */
export const noDockerReason: string | undefined = await whyNoDocker();

const requireDocker = Deno.env.get("BOT_BOTTLE_REQUIRE_DOCKER") === "1";
if (noDockerReason && !requireDocker) {
  console.error(`Docker integration tests are ignored: ${noDockerReason}`);
}

/**
 * Declares a test that needs the Docker engine. Without one it is reported
 * as ignored, with the reason in its name, unless BOT_BOTTLE_REQUIRE_DOCKER=1
 * (CI), where it fails. A `slow` test (minutes) is skipped, and reported so,
 * when BOT_BOTTLE_SKIP_SLOW=1; CI runs it. `missing` says why another tool
 * the test needs is not there (the same rule: ignored, or failed in CI).
 */
export function dockerTest(
  name: string,
  fn: () => Promise<void>,
  options: { slow?: boolean; missing?: string | undefined } = {},
): void {
  const skipSlow = options.slow === true && Deno.env.get("BOT_BOTTLE_SKIP_SLOW") === "1";
  const missing = noDockerReason ?? options.missing;
  const ignore = skipSlow || (missing !== undefined && !requireDocker);
  const reason = skipSlow ? "slow, and BOT_BOTTLE_SKIP_SLOW=1" : missing;
  Deno.test({
    name: `${options.slow ? "(slow) " : ""}${name}${ignore ? ` [ignored: ${reason}]` : ""}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      if (noDockerReason) throw new Error(`Docker is required here: ${noDockerReason}`);
      if (options.missing) throw new Error(`this test cannot run here: ${options.missing}`);
      await ensureTestImage();
      await fn();
    },
  });
}

let imageReady: Promise<string> | undefined;

/** Builds {@linkcode TEST_IMAGE} once per test run. */
export function ensureTestImage(): Promise<string> {
  return imageReady ??= ensureBusyboxImage();
}

/** A unique slug for a test bottle. */
export function testSlug(prefix = "t"): string {
  return `${prefix}-${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
}

/** A running bottle container, removed with its committed image when disposed. */
export interface TestBottle extends AsyncDisposable {
  slug: string;
  container: string;
  image: string;
  /** Runs a command in the bottle; returns its stdout. */
  exec(...argv: string[]): Promise<string>;
}

/**
 * Starts `bot-bottle-<slug>` from the test image, running `sleep`, and
 * removes it and `bot-bottle-committed-<slug>:latest` (and any image labelled
 * for the slug) when disposed.
 */
export async function startBottle(slug: string = testSlug()): Promise<TestBottle> {
  const container = `bot-bottle-${slug}`;
  await docker("run", "-d", "--name", container, TEST_IMAGE, "sleep", "3600");
  return {
    slug,
    container,
    image: `bot-bottle-committed-${slug}:latest`,
    exec: (...argv) => docker("exec", container, ...argv),
    async [Symbol.asyncDispose]() {
      await removeBottleObjects(slug);
    },
  };
}

/** Removes every container and image a test made for `slug`. */
export async function removeBottleObjects(slug: string): Promise<void> {
  const containers = await docker("ps", "-aq", "--filter", `name=^bot-bottle-${slug}$`);
  for (const id of containers.split("\n").filter(Boolean)) await docker("rm", "-f", id);
  // Snapshots are layered on each other: untag them all, then prune the
  // untagged ones, which removes each chain from its leaf down.
  const tags = await docker(
    "images",
    "--format",
    "{{.Repository}}:{{.Tag}}",
    `bot-bottle-committed-${slug}`,
  );
  for (const tag of tags.split("\n").filter(Boolean)) {
    await $`docker image rm ${tag}`.quiet().noThrow();
  }
  await $`docker image prune --force --filter ${`label=bot-bottle.slug=${slug}`}`.quiet().noThrow();
  const left = await docker("images", "-aq", "--filter", `label=bot-bottle.slug=${slug}`);
  for (const id of new Set(left.split("\n").filter(Boolean))) {
    await $`docker image rm -f ${id}`.quiet().noThrow();
  }
}

/**
 * Starts a bottle labelled `label` from the test image with
 * `bot-bottle start … -- sleep 3600` (the CLI, as a user would), and
 * removes every container and image of it when disposed.
 */
export async function cliBottle(
  label: string,
  env: Record<string, string>,
): Promise<{ slug: string } & AsyncDisposable> {
  const { runCli } = await import("./cli.ts");
  const disposable = {
    slug: label,
    [Symbol.asyncDispose]: () => removeBottleObjects(label),
  };
  const run = await runCli(
    ["start", "--image", TEST_IMAGE, "--name", label, "--", "sleep", "3600"],
    env,
  );
  if (run.code !== 0) {
    await removeBottleObjects(label);
    throw new Error(`bot-bottle start failed (${run.code}): ${run.stderr}`);
  }
  return disposable;
}

/** A running test bottle with state in a temporary HOME. */
export interface BottleWithState extends AsyncDisposable {
  /** The temporary HOME holding its state. */
  home: import("./temp_home.ts").TempHome;
  /** The running bottle. */
  bottle: TestBottle;
  /** Its state directory. */
  dir: string;
}

/**
 * Starts a bottle (slug `<prefix>-…`) with launcher state in a temporary
 * HOME, and commits it `commits` times (default once) with the CLI.
 */
export async function bottleWithState(prefix: string, commits = 1): Promise<BottleWithState> {
  const { tempHome } = await import("./temp_home.ts");
  const { runCli } = await import("./cli.ts");
  const home = await tempHome();
  const bottle = await startBottle(testSlug(prefix));
  const dir = await home.writeBottle(bottle.slug);
  for (let n = 0; n < commits; n++) {
    const run = await runCli(["commit", bottle.slug], home.env);
    if (run.code !== 0) throw new Error(`setting up, commit failed: ${run.stderr}`);
  }
  return {
    home,
    bottle,
    dir,
    async [Symbol.asyncDispose]() {
      await bottle[Symbol.asyncDispose]();
      await home[Symbol.asyncDispose]();
    },
  };
}
