/**
 * Benchmark: `bot-bottle export` and `bot-bottle import` of Apple `container`
 * and smolvm bottles, through their test doubles (tests/_doubles/), against a
 * plain copy of the same artifact in the same run, for a 200 MiB bottle of
 * the migration bench's three kinds of data: random, zeros, and a tree of
 * small files (bench/_common.ts `writeTree`). `deno task bench` runs it last;
 * BENCH_RUNS=<n> sets the runs per case (default 3). Prints Markdown tables
 * on stdout, progress on stderr; see docs/benchmarks.md.
 *
 * Each run installs the doubles afresh with a bottle whose root filesystem
 * holds the data (as blobs of the doubles' store, tests/_doubles/blobs.ts: a
 * double's world keeps file contents as text, which neither 200 MiB nor
 * random bytes fit), writes its launcher state, and commits it with the tool
 * (not timed), as the backend tests do. Then, in alternating order:
 *
 * - export: `bot-bottle export <slug> -o FILE` (and with `--compression none`,
 *   the tool without its compressor), against `cp` of the artifact
 *   the export carries: for smolvm the `.smolmachine` file the commit wrote,
 *   for Apple the OCI image-layout tar the double's `container image save -o`
 *   writes of the snapshot image (the tool's own first step). That double
 *   command is timed alone too, and `cp` is timed after it.
 * - the snapshot's container and images are removed from the double's world
 *   (Apple), as on another machine;
 * - import: `bot-bottle import FILE --name <other>`, against `cp` of the
 *   artifact back; for Apple the double's `container image load -i` of the
 *   artifact is timed alone too (what one loaded is removed before the other).
 *
 * The doubles are Deno scripts: each call pays Deno's start-up and reads and
 * writes the world file, on the "engine" side. The bench counts the double's
 * calls of each tool run and times `<double> --version` (start-up alone), so
 * the tables can show the tool's time without the double's.
 *
 * Every command runs under `/usr/bin/time -f %M` (the largest process of the
 * tree, doubles included); the tool's own Deno process's peak is its `VmHWM`,
 * polled. Everything made (temp homes, the doubles' directories, files) is
 * removed at the end, also on failure.
 *
 * @module
 */

import { join } from "node:path";
import { installDoubles } from "../tests/_doubles/harness.ts";
import { blobStore, storeBlob } from "../tests/_doubles/blobs.ts";
import { defaultContainerWorld, fakeContainer } from "../tests/_doubles/container_world.ts";
import { defaultSmolvmWorld, fakeMachine } from "../tests/_doubles/smolvm_world.ts";
import { launcherMetadata, tempHome } from "../tests/_helpers/temp_home.ts";
import {
  childEnv,
  DENO,
  MB,
  mbOfKiB,
  measure,
  type Measured,
  median,
  progress,
  runsFor,
  TIME,
  timed,
  TOP,
  writeTree,
} from "./_common.ts";

/** The size of the bottle's data, in MiB: BENCH_DOUBLES_MB, else 200. */
const SIZE_MB = Number(Deno.env.get("BENCH_DOUBLES_MB") || 200);
if (!Number.isInteger(SIZE_MB) || SIZE_MB < 1) {
  throw new Error(`BENCH_DOUBLES_MB must be a positive integer, got ${SIZE_MB}`);
}

/** The kinds of data, as in the migration bench. */
const KINDS = ["random", "zeros", "tree"] as const;
type Kind = typeof KINDS[number];

const BACKENDS = ["macos-container", "smolmachines"] as const;
type Backend = typeof BACKENDS[number];

/** The target from the issue: the tool within this factor of a plain copy of the artifact. */
const TARGET_RATIO = 1.3;

/** The memory target, in MB. */
const TARGET_PEAK_MB = 100;

/** One side's samples: wall ms, `time %M` KiB, the tool's own `VmHWM` KiB, the double's calls. */
interface Samples {
  ms: number[];
  treeKiB: number[];
  toolKiB: number[];
  calls: number[];
}

const samples = (): Samples => ({ ms: [], treeKiB: [], toolKiB: [], calls: [] });

/** Everything measured for one backend and kind. */
interface CaseResult {
  backend: Backend;
  kind: Kind;
  runs: number;
  artifactBytes: number[];
  archiveBytes: number[];
  exportTool: Samples;
  /** `bot-bottle export --compression none`: the tool without its compressor. */
  exportStored: Samples;
  exportCopy: Samples;
  /** Apple only: the double's `image save -o` alone. */
  exportDouble: Samples;
  importTool: Samples;
  importCopy: Samples;
  /** Apple only: the double's `image load -i` alone. */
  importDouble: Samples;
}

/** Adds `measured` to `into`, with the double's calls it made. */
function record(into: Samples, measured: Measured, calls = 0): void {
  into.ms.push(measured.ms);
  into.treeKiB.push(measured.maxRssKiB);
  into.toolKiB.push(measured.hwmKiB.get(TOP) ?? NaN);
  into.calls.push(calls);
}

/** The double's executable for `backend`. */
const doubleOf = (backend: Backend) => backend === "macos-container" ? "container" : "smolvm";

/**
 * Puts `kind` data of `mb` MiB into the blob store `store`, made under
 * `scratch`; returns the bottle's files (relative path → content string).
 */
async function bottleFiles(
  kind: Kind,
  mb: number,
  store: string,
  scratch: string,
): Promise<Record<string, string>> {
  const files: Record<string, string> = { "etc/hostname": "bench\n" };
  if (kind === "tree") {
    const tree = join(scratch, "tree");
    await writeTree(tree, mb);
    for await (const path of walk(tree)) {
      files[path.slice(tree.length + 1)] = await storeBlob(store, path, { move: true });
    }
    await Deno.remove(tree, { recursive: true });
    return files;
  }
  const data = join(scratch, "data.bin");
  {
    using file = await Deno.open(data, { write: true, create: true, truncate: true });
    const chunk = new Uint8Array(1024 * 1024);
    for (let n = 0; n < mb; n++) {
      if (kind === "random") {
        for (let at = 0; at < chunk.length; at += 65536) {
          crypto.getRandomValues(chunk.subarray(at, at + 65536));
        }
      }
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
  }
  files["data.bin"] = await storeBlob(store, data, { move: true });
  return files;
}

/** Every regular file under `dir`. */
async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}

async function main(): Promise<void> {
  if (!(await Deno.stat(TIME).then((info) => info.isFile, () => false))) {
    throw new Error(`the bench needs GNU time at ${TIME}`);
  }
  const runs = runsFor(3);
  const scratch = await Deno.makeTempDir({ prefix: "bot-bottle-bench-doubles-" });
  const results: CaseResult[] = [];
  const startup: Record<Backend, number[]> = { "macos-container": [], smolmachines: [] };
  const tool = (...args: string[]) => [DENO, "run", "-A", "main.ts", ...args];
  try {
    for (const backend of BACKENDS) {
      for (const kind of KINDS) {
        const result: CaseResult = {
          backend,
          kind,
          runs,
          artifactBytes: [],
          archiveBytes: [],
          exportTool: samples(),
          exportStored: samples(),
          exportCopy: samples(),
          exportDouble: samples(),
          importTool: samples(),
          importCopy: samples(),
          importDouble: samples(),
        };
        results.push(result);
        for (let run = 0; run < runs; run++) {
          const label = `${backend} ${kind} ${SIZE_MB} MiB, run ${run + 1}/${runs}`;
          progress(`${label}: making the snapshot`);
          await runCase(result, run, scratch, tool, startup[backend], label);
        }
      }
    }
    console.log(report(results, startup).join("\n"));
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/** One run of one case, in its own doubles and home, removed at the end. */
async function runCase(
  result: CaseResult,
  run: number,
  scratch: string,
  tool: (...args: string[]) => string[],
  startup: number[],
  label: string,
): Promise<void> {
  const { backend, kind } = result;
  const slug = `bench-${crypto.randomUUID().slice(0, 5)}`;
  const other = `bench-${crypto.randomUUID().slice(0, 5)}`;
  await using doubles = await installDoubles();
  await using home = await tempHome();
  const files = await bottleFiles(kind, SIZE_MB, blobStore(doubles.dir), scratch);
  if (backend === "macos-container") {
    await doubles.container.write({
      ...defaultContainerWorld(),
      containers: [fakeContainer(slug, { files })],
    });
  } else {
    await doubles.smolvm.write({
      ...defaultSmolvmWorld(),
      machines: [fakeMachine(slug, { files, state: "stopped", workspace: {} })],
    });
  }
  await home.writeBottle(slug, launcherMetadata(slug, { backend }));
  const env = {
    ...childEnv(home.home),
    ...doubles.env,
    BOT_BOTTLE_KEEP_SNAPSHOTS: "0",
  };
  const calls = async () =>
    backend === "macos-container"
      ? (await doubles.container.read()).calls.length
      : (await doubles.smolvm.read()).calls.length;
  /** Measures `argv` and counts the double's calls it made. */
  const counted = async (into: Samples, argv: string[]) => {
    const before = await calls();
    const measured = await measure(env, argv);
    record(into, measured, (await calls()) - before);
  };

  await timed(env, tool("commit", slug));
  if (run === 0) {
    // The double's start-up alone: what each of its calls costs before any work.
    for (let n = 0; n < 3; n++) {
      startup.push((await timed(env, [doubleOf(backend), "--version"])).ms);
    }
  }
  const history = JSON.parse(
    await Deno.readTextFile(`${home.stateDir(slug)}/snapshots.json`),
  ) as { snapshots: { artifact: string }[] };
  const artifact = history.snapshots.at(-1)!.artifact;

  const archive = join(scratch, `${slug}.bottle`);
  const plain = join(scratch, `${slug}.artifact`);
  const copy = join(scratch, `${slug}.copy`);
  const toolFirst = run % 2 === 1;
  const exportTool = async () => {
    progress(`${label}: export, tool`);
    await counted(result.exportTool, tool("export", slug, "-o", archive));
    const stored = `${archive}.none`;
    await counted(result.exportStored, tool("export", slug, "-o", stored, "--compression", "none"));
    await Deno.remove(stored);
  };
  if (toolFirst) await exportTool();
  progress(`${label}: export, the artifact and its copy`);
  if (backend === "macos-container") {
    // What the export carries: the double's `image save` of the snapshot image.
    await counted(result.exportDouble, ["container", "image", "save", "-o", plain, artifact]);
  } else {
    await Deno.copyFile(artifact, plain);
  }
  await counted(result.exportCopy, ["cp", plain, copy]);
  await Deno.remove(copy);
  if (!toolFirst) await exportTool();
  result.artifactBytes.push((await Deno.stat(plain)).size);
  result.archiveBytes.push((await Deno.stat(archive)).size);

  if (backend === "macos-container") {
    // As on another machine: no container, no image of the snapshot.
    await doubles.container.update((world) => {
      world.containers = [];
      world.images = [];
    });
  }
  const importTool = async () => {
    progress(`${label}: import, tool`);
    await counted(result.importTool, tool("import", archive, "--name", other));
    const current = (await Deno.readTextFile(`${home.stateDir(other)}/committed-image`)).trim();
    if (backend === "macos-container") {
      const world = await doubles.container.read();
      if (!world.images.some((image) => image.reference === current)) {
        throw new Error(`the import did not load ${current}`);
      }
      await doubles.container.update((world) => world.images = []);
    } else if (!(await Deno.stat(current).then((info) => info.isFile, () => false))) {
      throw new Error(`the import did not write ${current}`);
    }
    await Deno.remove(home.stateDir(other), { recursive: true });
  };
  if (toolFirst) await importTool();
  progress(`${label}: import, the copy back`);
  if (backend === "macos-container") {
    await counted(result.importDouble, ["container", "image", "load", "-i", plain]);
    await doubles.container.update((world) => world.images = []);
  }
  await counted(result.importCopy, ["cp", plain, copy]);
  if (!toolFirst) await importTool();
  await Deno.remove(copy);
  await Deno.remove(plain);
  await Deno.remove(archive);
}

/** The median of `values` in seconds, or `—` when there are none. */
const med = (values: number[]) => values.length === 0 ? "—" : secs(median(values));

/** Seconds with two decimals: a copy of 200 MiB takes ~0.1 s. */
const secs = (ms: number) => (ms / 1000).toFixed(2);

/** The largest of `values` (KiB) as MB. */
const most = (values: number[]) => values.length === 0 ? "—" : mbOfKiB(Math.max(...values));

function report(results: CaseResult[], startup: Record<Backend, number[]>): string[] {
  const runs = results[0]?.runs ?? 0;
  const lines = [
    `Apple and smolvm through the doubles: ${runs} run${runs === 1 ? "" : "s"} per case at ` +
    `${SIZE_MB} MiB, no warm-up; times are medians of the wall clock around the subprocess, ` +
    `in s; the double's work is the "engine" side.`,
    "",
    `The doubles' start-up alone (\`--version\`, median): container ${
      med(startup["macos-container"])
    } s, smolvm ${med(startup.smolmachines)} s.`,
    "",
    "| Export | artifact MB | .bottle MB | `bot-bottle export` | `… --compression none` | double calls | double's `image save` alone | `cp` of the artifact | tool/`cp` | (tool − double)/`cp` | tool's peak MB (Deno alone) | peak MB, whole tree |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const verdicts: { name: string; ratio: number; net: number }[] = [];
  for (const result of results) {
    const start = median(startup[result.backend]);
    const tool = median(result.exportTool.ms);
    const copy = median(result.exportCopy.ms);
    const save = result.exportDouble.ms.length ? median(result.exportDouble.ms) : 0;
    const calls = median(result.exportTool.calls);
    // The double's share: its `image save` (start-up included) and the start-up of its other calls.
    const double = save + (save ? calls - 1 : calls) * start;
    verdicts.push({
      name: `export ${result.backend} ${result.kind}`,
      ratio: tool / copy,
      net: (tool - double) / copy,
    });
    lines.push(
      `| ${result.backend}, ${result.kind} | ${(median(result.artifactBytes) / MB).toFixed(0)} | ` +
        `${(median(result.archiveBytes) / MB).toFixed(0)} | ${secs(tool)} | ` +
        `${med(result.exportStored.ms)} | ${calls} | ` +
        `${med(result.exportDouble.ms)} | ${secs(copy)} | ${(tool / copy).toFixed(2)} | ` +
        `${((tool - double) / copy).toFixed(2)} | ${most(result.exportTool.toolKiB)} | ` +
        `${most(result.exportTool.treeKiB)} |`,
    );
  }
  lines.push(
    "",
    "| Import | `bot-bottle import` | double calls | double's `image load` alone | `cp` back | tool/`cp` | (tool − double)/`cp` | tool/(double's load) | tool's peak MB (Deno alone) | peak MB, whole tree |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const result of results) {
    const start = median(startup[result.backend]);
    const tool = median(result.importTool.ms);
    const copy = median(result.importCopy.ms);
    const load = result.importDouble.ms.length ? median(result.importDouble.ms) : 0;
    const calls = median(result.importTool.calls);
    const double = load + (load ? calls - 1 : calls) * start;
    verdicts.push({
      name: `import ${result.backend} ${result.kind}`,
      ratio: tool / copy,
      net: (tool - double) / copy,
    });
    lines.push(
      `| ${result.backend}, ${result.kind} | ${secs(tool)} | ${calls} | ` +
        `${med(result.importDouble.ms)} | ${secs(copy)} | ${(tool / copy).toFixed(2)} | ` +
        `${((tool - double) / copy).toFixed(2)} | ${load ? (tool / load).toFixed(2) : "—"} | ` +
        `${most(result.importTool.toolKiB)} | ${most(result.importTool.treeKiB)} |`,
    );
  }
  const worstTool = Math.max(
    ...results.flatMap((result) => [...result.exportTool.toolKiB, ...result.importTool.toolKiB]),
  );
  lines.push(
    "",
    `Target: export and import within ${TARGET_RATIO}× a plain copy of the artifact, through ` +
      `the doubles: ${verdicts.every(({ ratio }) => ratio <= TARGET_RATIO) ? "met" : "NOT met"} (${
        verdicts.map(({ name, ratio }) => `${name} ${ratio.toFixed(2)}×`).join(", ")
      }).`,
    "",
    `Without the double's share (its own command timed alone, and the start-up of its other ` +
      `calls): ${
        verdicts.every(({ net }) => net <= TARGET_RATIO) ? "within" : "NOT within"
      } ${TARGET_RATIO}× (${
        verdicts.map(({ name, net }) => `${name} ${net.toFixed(2)}×`).join(", ")
      }).`,
    "",
    `Memory: the tool's own Deno process peaked at ${mbOfKiB(worstTool)} MB at most ` +
      `(target ≤ ${TARGET_PEAK_MB} MB: ${
        worstTool * 1024 <= TARGET_PEAK_MB * MB ? "met" : "NOT met"
      }).`,
  );
  return lines;
}

if (import.meta.main) await main();
