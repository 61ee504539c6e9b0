// Export and import hold memory bounded whatever the size and however well
// the data compresses: 1 GiB of zeros, which gunzip inflates a thousandfold,
// goes through write and read in a child process whose peak resident memory,
// as the kernel counts it (VmHWM), stays under 100 MiB. Before the streams
// had backpressure end to end, reading this took over 600 MiB.

import { ok } from "node:assert/strict";
import { join } from "node:path";
import { DENO_DIR } from "../_helpers/cli.ts";

const SCRIPT = new URL("../_fixtures/archive_peak_memory.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const LIMIT = 100 * 1024 * 1024;
const SIZE = 1024 * 1024 * 1024;

async function peakOf(...args: string[]): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, SCRIPT, ...args],
    env: { DENO_DIR },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  ok(code === 0, `${args[0]} failed: ${err}`);
  return Number(new TextDecoder().decode(stdout).trim());
}

for (const compression of ["zstd", "gzip"]) {
  Deno.test({
    name: `1 GiB of zeros is exported and imported (${compression}) in under 100 MiB of memory`,
    ignore: Deno.build.os !== "linux", // VmHWM is Linux's
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "bot-bottle-memory-test-" });
      try {
        const artifact = join(dir, "zeros.tar");
        await Deno.truncate(
          await Deno.create(artifact).then((file) => {
            file.close();
            return artifact;
          }),
          SIZE,
        ); // sparse: reads as zeros, takes no disk
        const archive = join(dir, "zeros.bottle");
        const written = await peakOf("write", archive, artifact, compression);
        ok(written < LIMIT, `export peaked at ${written >> 20} MiB`);
        const into = join(dir, "into");
        await Deno.mkdir(into);
        const read = await peakOf("read", archive, into);
        ok(read < LIMIT, `import peaked at ${read >> 20} MiB`);
        ok((await Deno.stat(join(into, "artifact.docker.tar"))).size === SIZE);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
