// A tiny local image for demos and tests, made without any registry: a
// rootfs holding Debian's static busybox, loaded with `docker import`.

import { $ } from "dax";
import { join } from "node:path";

/** The image's name. */
export const BUSYBOX_IMAGE = "bot-bottle-busybox:latest";

const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "cat", "echo", "ls", "sleep", "dd", "mkdir", "rm", "head", "wc", "true"];

/**
 * Tells why the image cannot be built here, or `undefined` when it can.
 * Needs a statically linked `/bin/busybox` (Debian: `apt-get install busybox-static`).
 */
export async function whyNoBusybox(): Promise<string | undefined> {
  try {
    if (!(await Deno.stat(BUSYBOX)).isFile) return `${BUSYBOX} is not a file`;
  } catch {
    return `no ${BUSYBOX} to build the image from (apt-get install busybox-static)`;
  }
  const linked = await $`ldd ${BUSYBOX}`.stdout("piped").stderr("piped").noThrow();
  if (!`${linked.stdout}${linked.stderr}`.includes("not a dynamic executable")) {
    return `${BUSYBOX} is not statically linked (apt-get install busybox-static)`;
  }
  return undefined;
}

/** Builds {@linkcode BUSYBOX_IMAGE} unless the engine already has it. */
export async function ensureBusyboxImage(): Promise<string> {
  const present = await $`docker image inspect ${BUSYBOX_IMAGE}`.quiet().noThrow();
  if (present.code === 0) return BUSYBOX_IMAGE;
  const why = await whyNoBusybox();
  if (why) throw new Error(`cannot build ${BUSYBOX_IMAGE}: ${why}`);
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-rootfs-" });
  try {
    const rootfs = join(dir, "rootfs");
    await Deno.mkdir(join(rootfs, "bin"), { recursive: true });
    await Deno.mkdir(join(rootfs, "tmp"));
    await Deno.chmod(join(rootfs, "tmp"), 0o1777);
    await Deno.copyFile(BUSYBOX, join(rootfs, "bin", "busybox"));
    await Deno.chmod(join(rootfs, "bin", "busybox"), 0o755);
    for (const applet of APPLETS) await Deno.symlink("busybox", join(rootfs, "bin", applet));
    const tar = join(dir, "rootfs.tar");
    await $`tar -C ${rootfs} -cf ${tar} .`;
    await $`docker import --change ${'CMD ["/bin/sh"]'} --change ${"ENV PATH=/bin"} ${tar} ${BUSYBOX_IMAGE}`
      .quiet();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return BUSYBOX_IMAGE;
}
