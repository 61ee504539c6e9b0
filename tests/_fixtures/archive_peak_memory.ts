// Writes or reads a bottle archive, then prints the process's peak resident
// memory (VmHWM, from the kernel) in bytes. Run as its own process by
// tests/lib/archive_memory_test.ts, so nothing else shares the figure.
//
//   write <archive> <artifact> <zstd|gzip|none>
//   read <archive> <into>

import {
  type Compression,
  readBottleArchive,
  writeBottleArchive,
} from "../../lib/archive/bottle_archive.ts";

const [mode, archive, path, compression] = Deno.args;
if (archive === undefined || path === undefined) {
  throw new Error(
    "usage: archive_peak_memory.ts write <archive> <artifact> <compression> | read <archive> <into>",
  );
}
if (mode === "write") {
  await writeBottleArchive(archive, {
    manifest: {
      slug: "dev-abc12",
      backend: "docker",
      snapshot: {
        id: "20261124T141500Z",
        createdAt: "2026-11-24T14:15:00Z",
        parent: null,
        message: null,
      },
      lineage: ["20261124T141500Z"],
      toolVersion: "0.1.0",
    },
    metadataJson: "{}",
    artifactPath: path,
    artifactName: "artifact.docker.tar",
    compression: compression as Compression,
  });
} else {
  await readBottleArchive(archive, path);
}
const status = await Deno.readTextFile("/proc/self/status");
console.log(Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024);
