/**
 * Benchmark: `bot-bottle export` and `bot-bottle import` of a Docker snapshot
 * against a bare `docker save -o` and `docker load -i` of the same image, on
 * a real Docker engine, for a 200 MiB change of three kinds of data: random
 * (incompressible), zeros (compressible a thousandfold: the case where a
 * decompressor outruns its reader) and a tree of small files (a root
 * filesystem's binaries and libraries, half compressible, and a
 * node_modules-like tree of JavaScript-like text), and with BENCH_LARGE=1 the
 * same at 1 GiB. `deno task bench` runs it after the resume bench;
 * BENCH_RUNS=<n> sets the number of runs per case (default 3 at 200 MiB, 1 at
 * 1 GiB). There is no warm-up run: the other benches have warmed Deno's
 * cache. Prints Markdown tables on stdout, progress on stderr. See
 * docs/benchmarks.md for results and analysis.
 *
 * Each run starts a bottle from the test image, writes the data into it
 * (`dd`, or `docker cp` of a tree made on the host), and commits it with the
 * tool (not timed).
 * Then, in alternating order:
 *
 * - export: `bot-bottle export <slug> -o FILE` and `docker save -o TAR <image>`
 *   of the same snapshot image;
 * - the bottle's container and every image of it are removed, so that the
 *   snapshot's layers are gone, as on another machine;
 * - import: `bot-bottle import FILE --name <other>` and `docker load -i TAR`,
 *   each into an engine without the layers (what one loaded is removed before
 *   the other).
 *
 * On the first run of each case the bench also times, in a fresh Deno
 * process each, the parts of the tool's work beyond docker's: SHA-256 of the
 * artifact (`node:crypto`), zstd-3 and gzip-6 of it (`node:zlib`, as the tool
 * does), zstd decompression of the `.bottle`, and a plain copy of the
 * artifact (`cp`), the floor of any extra pass over it.
 *
 * Every command runs under `/usr/bin/time -f %M`, which reports the peak
 * resident set of the process tree it waited for: for the tool that is the
 * larger of the Deno process and the docker CLI it ran. The Deno process's
 * own peak is read too, from `VmHWM` in /proc, polled every 50 ms while it
 * runs (a high-water mark, so only the last ≤50 ms can be missed). The tool's
 * temporary files go to a TMPDIR inside the bench's scratch directory, which
 * is removed at the end with every container and image, also on failure.
 *
 * @module
 */

import {
  docker,
  ensureTestImage,
  noDockerReason,
  removeBottleObjects,
  startBottle,
  testSlug,
} from "../tests/_helpers/docker.ts";
import { launcherMetadata, tempHome } from "../tests/_helpers/temp_home.ts";
import {
  childEnv,
  DENO,
  MB,
  mbOfKiB,
  measure,
  type Measured,
  median,
  nth,
  peak,
  progress,
  runsFor,
  seconds,
  secondsRange,
  TIME,
  timed,
  wall,
  writeTree,
} from "./_common.ts";

/** The sizes of the change, in MiB, with their default number of runs. */
const SIZES: [mb: number, runs: number][] = Deno.env.get("BENCH_LARGE") === "1"
  ? [[200, 3], [1024, 1]]
  : [[200, 3]];

/** The kinds of data in the change. */
const KINDS = ["random", "zeros", "tree"] as const;
type Kind = typeof KINDS[number];

/** The target from the issue, in MB: the tool's peak resident memory. */
const TARGET_PEAK_MB = 100;

type Side = "bare" | "tool";

/** The samples of one operation (export or import) on one side, at one size. */
interface Samples {
  ms: number[];
  maxRssKiB: number[];
  denoKiB: number[];
}

/** Everything measured at one size. */
interface SizeResult {
  kind: Kind;
  mb: number;
  runs: number;
  artifactBytes: number[];
  archiveBytes: number[];
  exports: Record<Side, Samples>;
  imports: Record<Side, Samples>;
  /** The parts, from the first run: name and ms. */
  parts: [string, number][];
}

/** Times, inside the script, one pass of `Deno.args[0]` over the file `Deno.args[1]`. */
const PARTS_PROBE = `
import { createHash } from "node:crypto";
import { createGzip, createZstdCompress, createZstdDecompress } from "node:zlib";
const [mode, path] = Deno.args;
const start = performance.now();
using file = await Deno.open(path);
if (mode === "sha256") {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(256 * 1024);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  hash.digest("hex");
} else {
  const stream = mode === "zstd" ? createZstdCompress() : mode === "gzip" ? createGzip()
    : createZstdDecompress();
  const feeding = (async () => {
    for (;;) {
      const buffer = new Uint8Array(256 * 1024);
      const n = await file.read(buffer);
      if (n === null) break;
      if (!stream.write(buffer.subarray(0, n))) await new Promise((r) => stream.once("drain", r));
    }
    stream.end();
  })();
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.byteLength;
  await feeding;
  if (bytes === 0) throw new Error("no output");
}
console.log(performance.now() - start);
`;

const emptySamples = (): Samples => ({ ms: [], maxRssKiB: [], denoKiB: [] });

async function main(): Promise<void> {
  if (noDockerReason) throw new Error(`the bench needs Docker: ${noDockerReason}`);
  if (!(await Deno.stat(TIME).then((info) => info.isFile, () => false))) {
    throw new Error(`the bench needs GNU time at ${TIME}`);
  }
  await ensureTestImage();

  await using home = await tempHome();
  const scratch = await Deno.makeTempDir({ prefix: "bot-bottle-bench-" });
  const tmp = `${scratch}/tmp`;
  await Deno.mkdir(tmp);
  // Retention off, and the tool's temporary files inside the scratch directory.
  const env = { ...childEnv(home.home), BOT_BOTTLE_KEEP_SNAPSHOTS: "0", TMPDIR: tmp };
  const slugs = new Set<string>();

  /** Removes every container and image of `slug`, and its state directory. */
  async function dispose(slug: string): Promise<void> {
    await removeBottleObjects(slug);
    await Deno.remove(home.stateDir(slug), { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    slugs.delete(slug);
  }

  /** Throws unless no image of the snapshot `slug` made is left in the engine. */
  async function assertGone(slug: string): Promise<void> {
    const left = await docker("images", "-aq", "--filter", `label=bot-bottle.slug=${slug}`);
    if (left !== "") throw new Error(`images of ${slug} are still there: ${left}`);
  }

  const tool = (...args: string[]) => [DENO, "run", "-A", "main.ts", ...args];
  const partsProbe = `${scratch}/parts_probe.ts`;
  await Deno.writeTextFile(partsProbe, PARTS_PROBE);
  const part = async (mode: string, file: string) =>
    Number((await timed(env, [DENO, "run", "-A", partsProbe, mode, file])).stdout.trim());

  const results: SizeResult[] = [];

  try {
    // The tool's memory before it does any work: start-up alone.
    const startup: number[] = [];
    for (let run = 0; run < 3; run++) {
      startup.push((await measure(env, tool("--version"))).maxRssKiB);
    }
    for (const [mb, defaultRuns] of SIZES) {
      for (const kind of KINDS) {
        const runs = runsFor(defaultRuns);
        const result: SizeResult = {
          kind,
          mb,
          runs,
          artifactBytes: [],
          archiveBytes: [],
          exports: { bare: emptySamples(), tool: emptySamples() },
          imports: { bare: emptySamples(), tool: emptySamples() },
          parts: [],
        };
        results.push(result);
        for (let run = 0; run < runs; run++) {
          const sides: Side[] = run % 2 === 0 ? ["bare", "tool"] : ["tool", "bare"];
          const label = `${kind} ${mb} MiB, run ${run + 1}/${runs}`;

          // The snapshot, committed by the tool (not timed).
          progress(`${label}: making the snapshot`);
          const slug = testSlug("bench");
          slugs.add(slug);
          const bottle = await startBottle(slug);
          if (kind === "tree") {
            const tree = `${scratch}/tree`;
            await writeTree(tree, mb);
            await docker("cp", `${tree}/.`, `${bottle.container}:/`);
            await Deno.remove(tree, { recursive: true });
          } else {
            const source = kind === "random" ? "/dev/urandom" : "/dev/zero";
            await bottle.exec("dd", `if=${source}`, "of=/data.bin", "bs=1M", `count=${mb}`);
          }
          await home.writeBottle(slug, launcherMetadata(slug));
          await timed(env, tool("commit", slug));
          const history = JSON.parse(
            await Deno.readTextFile(`${home.stateDir(slug)}/snapshots.json`),
          ) as { snapshots: { artifact: string }[] };
          const image = history.snapshots.at(-1)!.artifact;

          const archive = `${scratch}/${slug}.bottle`;
          const tar = `${scratch}/${slug}.tar`;
          for (const side of sides) {
            progress(`${label}: export, ${side}`);
            const measured = side === "tool"
              ? await measure(env, tool("export", slug, "-o", archive))
              : await measure(env, ["docker", "save", "-o", tar, image]);
            record(result.exports[side], measured, side);
          }
          // Outside the timing: both wrote the artifact; the tool's file is whole (random data
          // does not compress, so it is about as large).
          const artifactBytes = (await Deno.stat(tar)).size;
          const archiveBytes = (await Deno.stat(archive)).size;
          if (kind === "random" && archiveBytes < artifactBytes * 0.9) {
            throw new Error(`${archive} is ${archiveBytes} bytes, the image ${artifactBytes}`);
          }
          result.artifactBytes.push(artifactBytes);
          result.archiveBytes.push(archiveBytes);
          if (run === 0) {
            progress(`${label}: the parts`);
            result.parts.push(
              ["SHA-256 of the artifact (`node:crypto`)", await part("sha256", tar)],
              ["zstd-3 of the artifact (`node:zlib`)", await part("zstd", tar)],
              ["zstd decompression of the `.bottle` (`node:zlib`)", await part("unzstd", archive)],
              ["gzip-6 of the artifact (`node:zlib`), as format 1", await part("gzip", tar)],
              ["`cp` of the artifact, for comparison", await wall(["cp", tar, `${tar}.copy`])],
            );
            await Deno.remove(`${tar}.copy`);
          }

          // As on another machine: no container, no image, no layer of the snapshot.
          await dispose(slug);
          await assertGone(slug);

          for (const side of sides) {
            progress(`${label}: import, ${side}`);
            if (side === "tool") {
              const other = testSlug("bench");
              slugs.add(other);
              record(
                result.imports.tool,
                await measure(env, tool("import", archive, "--name", other)),
                side,
              );
              const current = (await Deno.readTextFile(`${home.stateDir(other)}/committed-image`))
                .trim();
              await docker("image", "inspect", "--format", "{{.Id}}", current);
              await dispose(other);
            } else {
              record(result.imports.bare, await measure(env, ["docker", "load", "-i", tar]), side);
              await docker("image", "inspect", "--format", "{{.Id}}", image);
            }
            await removeBottleObjects(slug);
            await assertGone(slug);
          }
          await Deno.remove(archive);
          await Deno.remove(tar);
        }
      }
    }
    console.log(report(results, startup).join("\n"));
  } finally {
    for (const slug of slugs) {
      await removeBottleObjects(slug).catch((error) =>
        console.error(`bench: cleanup of ${slug} failed: ${error}`)
      );
    }
    await Deno.remove(scratch, { recursive: true });
  }
}

/** Adds a measurement to `samples`; the Deno process's own peak for the tool. */
function record(samples: Samples, measured: Measured, side: Side): void {
  samples.ms.push(measured.ms);
  samples.maxRssKiB.push(measured.maxRssKiB);
  if (side === "tool") {
    const deno = measured.hwmKiB.get("deno");
    if (deno === undefined) throw new Error("the Deno process's VmHWM was never read");
    samples.denoKiB.push(deno);
  }
}

function report(results: SizeResult[], startupKiB: number[]): string[] {
  const lines = [
    `Migration: ${
      results.map(({ kind, mb, runs }) =>
        `${runs} run${runs === 1 ? "" : "s"} of ${kind} at ${mb} MiB`
      )
        .join(", ")
    }, no warm-up; wall clock around the subprocess; throughput is MB (10^6 bytes) of the ` +
    `\`docker save\` artifact per second; peak memory in MB: \`/usr/bin/time -f %M\` of the ` +
    `whole command (Deno and the docker CLI it runs), and \`VmHWM\` of the Deno process alone.`,
    "",
    "| Case | artifact MB | .bottle MB | side | time s (median) | min–max s | MB/s | tool/bare | " +
    "peak RSS MB (`time %M`) | Deno process alone MB (`VmHWM`) |",
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  let worstDenoKiB = 0;
  let worstTreeKiB = 0;
  for (const result of results) {
    const artifact = median(result.artifactBytes);
    const archive = median(result.archiveBytes);
    const operations = [["export", result.exports], ["import", result.imports]] as const;
    for (const [operation, samples] of operations) {
      const bare = median(samples.bare.ms);
      for (const side of ["bare", "tool"] as const) {
        const { ms, maxRssKiB, denoKiB } = samples[side];
        const time = median(ms);
        const command = side === "bare"
          ? operation === "export" ? "`docker save -o`" : "`docker load -i`"
          : `\`bot-bottle ${operation}\``;
        lines.push(
          `| ${operation}, ${result.kind} ${result.mb} MiB | ${(artifact / MB).toFixed(0)} | ` +
            `${(archive / MB).toFixed(0)} | ${command} | ${seconds(time)} | ` +
            `${secondsRange(ms)} | ${(artifact / MB / (time / 1000)).toFixed(0)} | ` +
            `${side === "tool" ? (time / bare).toFixed(2) : ""} | ${peak(maxRssKiB)} | ` +
            `${peak(denoKiB)} |`,
        );
        if (side === "tool") {
          worstDenoKiB = Math.max(worstDenoKiB, ...denoKiB);
          worstTreeKiB = Math.max(worstTreeKiB, ...maxRssKiB);
        }
      }
    }
  }
  lines.push(
    "",
    "Parts, timed in a fresh Deno process each (the first run of each size):",
    "",
    "| Part | data | s | MB/s |",
    "| --- | ---: | ---: | ---: |",
    ...results.flatMap((result) =>
      result.parts.map(([name, ms]) => {
        const bytes = nth(result.artifactBytes, 0);
        return `| ${name} | ${result.kind} ${result.mb} MiB | ${seconds(ms)} | ` +
          `${(bytes / MB / (ms / 1000)).toFixed(0)} |`;
      })
    ),
  );
  lines.push(
    "",
    `Start-up alone: \`bot-bottle --version\` peaks at ${peak(startupKiB)} MB ` +
      `(\`time %M\`, ${startupKiB.length} runs).`,
  );
  const everyTool = results.flatMap((result) => [
    ...result.exports.tool.maxRssKiB,
    ...result.imports.tool.maxRssKiB,
  ]);
  const met = Math.max(...everyTool) * 1024 < TARGET_PEAK_MB * MB;
  lines.push(
    "",
    `Target: export and import keep the tool's peak resident memory under ${TARGET_PEAK_MB} MB ` +
      `whatever the size and the data: ${met ? "met" : "NOT met"} (largest \`time %M\` of the ` +
      `tool over every case: ${mbOfKiB(worstTreeKiB)} MB for the whole command, ` +
      `${mbOfKiB(worstDenoKiB)} MB for the Deno process alone).`,
  );
  const ratios = results.flatMap((result) =>
    (["export", "import"] as const).map((operation) => {
      const samples = operation === "export" ? result.exports : result.imports;
      return {
        name: `${operation} ${result.kind} ${result.mb} MiB`,
        ratio: median(samples.tool.ms) / median(samples.bare.ms),
      };
    })
  );
  lines.push(
    "",
    `Target: export within 1.3× \`docker save\` and import within 1.3× \`docker load\` of the ` +
      `same snapshot in the same run: ${
        ratios.every(({ ratio }) => ratio <= 1.3) ? "met" : "NOT met"
      } (${ratios.map(({ name, ratio }) => `${name} ${ratio.toFixed(2)}×`).join(", ")}).`,
  );
  return lines;
}

await main();
