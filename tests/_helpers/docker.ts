// The real Docker engine for integration tests: a check that it is there, a
// small local image (no registry can be reached), and bottles that clean up.

import { $ } from "dax";
import { join } from "node:path";

/** The local test image, made from a static busybox with `docker import`. */
export const TEST_IMAGE = "bot-bottle-test-busybox:latest";

const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "cat", "echo", "ls", "sleep", "dd", "mkdir", "rm", "head", "wc", "true"];

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
  try {
    const file = await Deno.stat(BUSYBOX);
    if (!file.isFile) return `${BUSYBOX} is not a file`;
  } catch {
    return `no ${BUSYBOX} to build the test image from (apt-get install busybox-static)`;
  }
  const linked = await $`ldd ${BUSYBOX}`.stdout("piped").stderr("piped").noThrow();
  if (!`${linked.stdout}${linked.stderr}`.includes("not a dynamic executable")) {
    return `${BUSYBOX} is not statically linked (apt-get install busybox-static)`;
  }
  return undefined;
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
 * (CI), where it fails.
 */
export function dockerTest(name: string, fn: () => Promise<void>): void {
  const ignore = noDockerReason !== undefined && !requireDocker;
  Deno.test({
    name: ignore ? `${name} [ignored: ${noDockerReason}]` : name,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      if (noDockerReason) throw new Error(`Docker is required here: ${noDockerReason}`);
      await ensureTestImage();
      await fn();
    },
  });
}

let imageReady: Promise<void> | undefined;

/** Builds {@linkcode TEST_IMAGE} once, from a rootfs tar holding a static busybox. */
export function ensureTestImage(): Promise<void> {
  return imageReady ??= (async () => {
    const present = await $`docker image inspect ${TEST_IMAGE}`.quiet().noThrow();
    if (present.code === 0) return;
    const dir = await Deno.makeTempDir({ prefix: "bot-bottle-rootfs-" });
    try {
      const rootfs = join(dir, "rootfs");
      await Deno.mkdir(join(rootfs, "bin"), { recursive: true });
      await Deno.mkdir(join(rootfs, "tmp"), { mode: 0o1777 });
      await Deno.copyFile(BUSYBOX, join(rootfs, "bin", "busybox"));
      await Deno.chmod(join(rootfs, "bin", "busybox"), 0o755);
      for (const applet of APPLETS) await Deno.symlink("busybox", join(rootfs, "bin", applet));
      const tar = join(dir, "rootfs.tar");
      await $`tar -C ${rootfs} -cf ${tar} .`;
      await docker(
        "import",
        "--change",
        'CMD ["/bin/sh"]',
        "--change",
        "ENV PATH=/bin",
        tar,
        TEST_IMAGE,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
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
  const tagged = await docker("images", "-q", `bot-bottle-committed-${slug}`);
  const labelled = await docker("images", "-aq", "--filter", `label=bot-bottle.slug=${slug}`);
  const images = new Set([...tagged.split("\n"), ...labelled.split("\n")].filter(Boolean));
  for (const id of images) await $`docker image rm -f ${id}`.quiet().noThrow();
}
