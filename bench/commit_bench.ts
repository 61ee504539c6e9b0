/**
 * Benchmark: `bot-bottle commit <slug>` against a bare `docker commit`, on a
 * real Docker engine. Run with `deno task bench`; BENCH_RUNS=<n> sets the
 * number of timed runs per case (default 7 for 1 MB, 5 for 200 MB), after one
 * warm-up. Prints Markdown tables on stdout, progress on stderr. See
 * docs/benchmarks.md for results and analysis.
 *
 * Every sample uses a fresh container `bot-bottle-<slug>` from the test image
 * holding the same change (`dd` of N MB of random data to /data.bin), so every
 * side does the same work. There are three sides:
 *
 * - bare: the one `docker commit` the registry's `commit` template renders
 *   (`docker commit --change LABEL ...`), the baseline of the target;
 * - steps: the four docker commands the tool's commit runs, spawned directly
 *   by the bench with the tool's concurrency: `docker commit` into
 *   `bot-bottle-committed-<slug>:<id>` alongside `docker container inspect`,
 *   then `docker tag` to `:latest` alongside the size `docker image inspect`;
 * - tool: `deno run -A main.ts commit <slug>`, with
 *   BOT_BOTTLE_KEEP_SNAPSHOTS=0 so automatic retention never prunes and the
 *   commit is measured alone.
 *
 * So tool − bare is the overhead against the target, steps − bare the part of
 * it that is docker work, and tool − steps the part that is Deno and the app.
 *
 * The long-history target (a re-commit's overhead with 10,000 snapshots within
 * +20 ms of that with one) is measured twice: unpaired in the table, and
 * paired, the tool re-committing a bottle with few snapshots and one with
 * 10,000 in turn, wall time and CPU time, which the load of a shared machine
 * moves far less.
 *
 * @module
 */

import {
  ensureTestImage,
  noDockerReason,
  removeBottleObjects,
  startBottle,
  testSlug,
} from "../tests/_helpers/docker.ts";
import { launcherMetadata, tempHome } from "../tests/_helpers/temp_home.ts";
import { historyText } from "../lib/_internal/state_text.ts";
import {
  childEnv,
  DENO,
  median,
  ms,
  nth,
  progress,
  range,
  ROOT,
  rootCommand,
  runsFor,
  timed,
} from "./_common.ts";

type Side = "bare" | "steps" | "tool";

/** The order of the sides in run `run`: each goes first, second and last in turn. */
function sidesOf(run: number): Side[] {
  const all: Side[] = ["bare", "steps", "tool"];
  const shift = ((run % 3) + 3) % 3;
  return [...all.slice(shift), ...all.slice(0, shift)];
}

interface CommitRow {
  name: string;
  bare: number[];
  steps: number[];
  tool: number[];
}

interface FixedRow {
  name: string;
  samples: number[];
}

async function main(): Promise<void> {
  if (noDockerReason) throw new Error(`the bench needs Docker: ${noDockerReason}`);
  await ensureTestImage();

  await using home = await tempHome();
  // Retention off: a commit never prunes older snapshots, so only the commit is timed.
  const env = { ...childEnv(home.home), BOT_BOTTLE_KEEP_SNAPSHOTS: "0" };
  const slugs = new Set<string>();
  const scratch = await Deno.makeTempDir({ prefix: "bot-bottle-bench-" });

  const bareCommit = (slug: string) =>
    timed(env, [
      "docker",
      "commit",
      "--change",
      `LABEL bot-bottle.slug=${slug}`,
      `bot-bottle-${slug}`,
      `bot-bottle-committed-${slug}:latest`,
    ]);
  /** The tool's docker commands, with its concurrency; one wall time around all four. */
  let stepId = 0;
  const stepsCommit = async (slug: string) => {
    const repository = `bot-bottle-committed-${slug}`;
    const image = `${repository}:s${++stepId}`;
    const start = performance.now();
    await Promise.all([
      timed(env, [
        "docker",
        "commit",
        "--change",
        `LABEL bot-bottle.slug=${slug}`,
        `bot-bottle-${slug}`,
        image,
      ]),
      timed(env, ["docker", "container", "inspect", `bot-bottle-${slug}`]),
    ]);
    await Promise.all([
      timed(env, ["docker", "tag", image, `${repository}:latest`]),
      timed(env, [
        "docker",
        "image",
        "inspect",
        "--format",
        "{{json .RepoTags}} {{.Size}}",
        image,
      ]),
    ]);
    return { ms: performance.now() - start };
  };
  const toolCommit = async (slug: string) => {
    const result = await timed(env, [DENO, "run", "-A", "main.ts", "commit", slug]);
    // Outside the timing: the tool really recorded the snapshot.
    const recorded = await Deno.readTextFile(`${home.stateDir(slug)}/committed-image`);
    if (recorded.trim() !== `bot-bottle-committed-${slug}:latest`) {
      throw new Error(`unexpected committed-image for ${slug}: ${JSON.stringify(recorded)}`);
    }
    return result;
  };
  /** A fresh bottle holding the change, with its state directory. */
  async function freshBottle(mb: number): Promise<string> {
    const slug = testSlug("bench");
    slugs.add(slug);
    const bottle = await startBottle(slug);
    await bottle.exec("dd", "if=/dev/urandom", "of=/data.bin", "bs=1M", `count=${mb}`);
    await home.writeBottle(slug, launcherMetadata(slug));
    return slug;
  }

  /**
   * Puts 9,999 older records before the bottle's history: a history of
   * 10,000, in the layout the tool writes and flushed to disk (as 10,000
   * commits would leave it).
   */
  async function padHistory(slug: string): Promise<void> {
    const file = `${home.stateDir(slug)}/snapshots.json`;
    const history = JSON.parse(await Deno.readTextFile(file));
    const real = history.snapshots[0];
    const older = Array.from({ length: 9_999 }, (_, n) => ({
      ...real,
      id: `20200101T000000Z-${n + 1}`,
      parent: n === 0 ? null : `20200101T000000Z-${n}`,
    }));
    history.snapshots = [...older, ...history.snapshots];
    await Deno.writeTextFile(file, historyText(history));
    // On disk, as 10,000 commits would have left it: the timed commit's flush does not write it.
    using written = await Deno.open(file, { write: true });
    await written.sync();
  }

  async function dispose(slug: string): Promise<void> {
    await removeBottleObjects(slug);
    slugs.delete(slug);
    await Deno.remove(home.stateDir(slug), { recursive: true });
  }

  try {
    const commits: CommitRow[] = [];
    const commitOf = { bare: bareCommit, steps: stepsCommit, tool: toolCommit };
    for (const [mb, defaultRuns] of [[1, 7], [200, 5]] as const) {
      const runs = runsFor(defaultRuns);
      const first: CommitRow = { name: `commit, ${mb} MB change`, bare: [], steps: [], tool: [] };
      const again: CommitRow = {
        name: `re-commit, ${mb} MB change`,
        bare: [],
        steps: [],
        tool: [],
      };
      // At 1 MB only: a re-commit of a bottle whose history holds 10,000 snapshots.
      const long: CommitRow = {
        name: `re-commit, ${mb} MB change, 10,000 snapshots`,
        bare: [],
        steps: [],
        tool: [],
      };
      // Run -1 is the warm-up; the order of the sides rotates.
      for (let run = -1; run < runs; run++) {
        progress(`${mb} MB, ${run < 0 ? "warm-up" : `run ${run + 1}/${runs}`}`);
        for (const side of sidesOf(run)) {
          // (a)/(b): the first commit of a fresh bottle.
          let slug = await freshBottle(mb);
          const commit = commitOf[side];
          const once = await commit(slug);
          await dispose(slug);
          // (c): a second commit of the same bottle, which now has a snapshot.
          slug = await freshBottle(mb);
          await commit(slug);
          const twice = await commit(slug);
          await dispose(slug);
          // (c'): the same, with 10,000 snapshots in the history (only the tool reads it).
          let longMs: number | undefined;
          if (mb === 1) {
            slug = await freshBottle(mb);
            await commit(slug);
            if (side === "tool") await padHistory(slug);
            longMs = (await commit(slug)).ms;
            await dispose(slug);
          }
          if (run < 0) continue;
          first[side].push(once.ms);
          again[side].push(twice.ms);
          if (longMs !== undefined) long[side].push(longMs);
        }
      }
      commits.push(first, again, ...long.tool.length > 0 ? [long] : []);
    }

    // (c''): the long-history target again, paired: a bottle with few snapshots and one with
    // 10,000 re-committed in turn, the tool alone, its wall time and its CPU time (user + sys,
    // from /usr/bin/time, in 10 ms steps). On a loaded machine the wall times of unpaired runs
    // move by more than the difference sought; pairs, and CPU time, move far less.
    const paired = {
      one: { wall: [] as number[], cpu: [] as number[] },
      long: { wall: [] as number[], cpu: [] as number[] },
    };
    const pairedRuns = runsFor(15);
    {
      const one = await freshBottle(1);
      await toolCommit(one);
      const long = await freshBottle(1);
      await toolCommit(long);
      await padHistory(long);
      for (let run = -1; run < pairedRuns; run++) {
        progress(`paired re-commits, ${run < 0 ? "warm-up" : `run ${run + 1}/${pairedRuns}`}`);
        const sides = [["one", one], ["long", long]] as const;
        for (const [key, slug] of run % 2 ? [...sides].reverse() : sides) {
          const result = await timed(env, [
            "/usr/bin/time",
            "-f",
            "cpu %U %S",
            DENO,
            "run",
            "-A",
            "main.ts",
            "commit",
            slug,
          ]);
          if (run < 0) continue;
          const [, user, system] = (result.stderr.trim().split("\n").at(-1) ?? "").split(" ");
          paired[key].wall.push(result.ms);
          paired[key].cpu.push((Number(user) + Number(system)) * 1000);
        }
      }
      await dispose(one);
      await dispose(long);
    }

    // (d): where the tool's time goes: `commit --verbose` logs each docker
    // command just before it starts; each stderr line is stamped on arrival.
    const timeline: FixedRow[] = [
      {
        name: "start-up until `docker commit` starts (Deno, app modules, registry, " +
          "metadata, history)",
        samples: [],
      },
      {
        name: '`import("dax")`, then `docker commit` ‖ `docker container inspect`',
        samples: [],
      },
      {
        name: "`docker tag` ‖ size `docker image inspect`, writing the state files",
        samples: [],
      },
      { name: "output and exit", samples: [] },
      { name: "total", samples: [] },
    ];
    const timelineRuns = runsFor(7);
    for (let run = -1; run < timelineRuns; run++) {
      progress(`commit timeline, ${run < 0 ? "warm-up" : `run ${run + 1}/${timelineRuns}`}`);
      const slug = await freshBottle(1);
      const lines = await stamped(env, [DENO, "run", "-A", "main.ts", "commit", slug, "--verbose"]);
      await dispose(slug);
      const at = (prefix: string) => {
        const line = lines.find(({ text }) => text.startsWith(prefix));
        if (!line) throw new Error(`commit --verbose printed no "${prefix}" line`);
        return line.ms;
      };
      const [commitAt, tagAt, doneAt] = [
        at("$ docker commit"),
        at("$ docker tag"),
        at("committed bottle"),
      ];
      const total = lines.at(-1)!.ms;
      if (run < 0) continue;
      [commitAt, tagAt - commitAt, doneAt - tagAt, total - doneAt, total]
        .forEach((value, index) => nth(timeline, index).samples.push(value));
    }

    // (e): fixed costs.
    const empty = `${scratch}/empty.ts`;
    await Deno.writeTextFile(empty, "");
    /** A script that imports `modules` in turn and prints each import's time, in ms. */
    const importProbe = async (name: string, modules: string[]) => {
      const path = `${scratch}/${name}.ts`;
      await Deno.writeTextFile(
        path,
        [
          "const times = [];",
          ...modules.flatMap((module) => [
            "{",
            "  const start = performance.now();",
            `  await import(${JSON.stringify(module)});`,
            "  times.push(performance.now() - start);",
            "}",
          ]),
          'console.log(times.join(" "));',
        ].join("\n"),
      );
      return path;
    };
    const daxProbe = await importProbe("dax_import", ["dax"]);
    const tarProbe = await importProbe("tar_import", ["tar-stream"]);
    const bothProbe = await importProbe("tar_dax_import", ["tar-stream", "dax"]);
    const config = `${ROOT}deno.json`;
    const fixed: FixedRow[] = [
      { name: "`deno run` of an empty script", samples: [] },
      { name: '`deno run` of a script doing `await import("dax")` (npm dax)', samples: [] },
      { name: '… of which `await import("dax")`, timed inside the script', samples: [] },
      { name: '`await import("tar-stream")` alone, timed inside a script', samples: [] },
      {
        name: '`await import("dax")` right after `await import("tar-stream")`, timed inside',
        samples: [],
      },
      { name: "`deno run -A main.ts --version` (no dax)", samples: [] },
      { name: "`docker --version`", samples: [] },
      { name: "`docker ps`", samples: [] },
    ];
    const runs = runsFor(7);
    for (let run = -1; run < runs; run++) {
      progress(`fixed costs, ${run < 0 ? "warm-up" : `run ${run + 1}/${runs}`}`);
      const samples = [
        (await timed(env, [DENO, "run", "-A", "--config", config, empty])).ms,
      ];
      const dax = await timed(env, [DENO, "run", "-A", "--config", config, daxProbe]);
      samples.push(dax.ms, Number(dax.stdout.trim()));
      const tar = await timed(env, [DENO, "run", "-A", "--config", config, tarProbe]);
      samples.push(Number(tar.stdout.trim()));
      const both = await timed(env, [DENO, "run", "-A", "--config", config, bothProbe]);
      samples.push(Number(both.stdout.trim().split(" ")[1]));
      samples.push((await timed(env, [DENO, "run", "-A", "main.ts", "--version"])).ms);
      samples.push((await timed(env, ["docker", "--version"])).ms);
      samples.push((await timed(env, ["docker", "ps"])).ms);
      if (run < 0) continue;
      samples.forEach((value, index) => nth(fixed, index).samples.push(value));
    }

    // (f): commands that read the whole history, at 1 and at 10,000 snapshots.
    const historyRows: { name: string; one: number[]; long: number[] }[] = [
      { name: "`snapshots <slug> --json`", one: [], long: [] },
      { name: "`prune <slug> --keep 1 --dry-run --json`", one: [], long: [] },
    ];
    {
      const slug = await freshBottle(1);
      await toolCommit(slug);
      const tool = (...args: string[]) => [DENO, "run", "-A", "main.ts", ...args];
      const argvs = [
        tool("snapshots", slug, "--json"),
        tool("prune", slug, "--keep", "1", "--dry-run", "--json"),
      ];
      for (const size of ["one", "long"] as const) {
        if (size === "long") await padHistory(slug);
        for (let run = -1; run < runsFor(7); run++) {
          progress(`history of ${size === "one" ? 1 : 10_000}, run ${run + 1}`);
          for (const [index, argv] of argvs.entries()) {
            const result = await timed(env, argv);
            if (run >= 0) nth(historyRows, index)[size].push(result.ms);
          }
        }
      }
      await dispose(slug);
    }

    const lines = [
      `Commit: ${runsFor(7)} runs at 1 MB, ${runsFor(5)} at 200 MB, after one warm-up; ` +
      `times in ms, wall clock around the subprocesses; BOT_BOTTLE_KEEP_SNAPSHOTS=0.`,
      "",
      "| Case | bare median | steps median | tool median | overhead (tool − bare) | " +
      "of which docker (steps − bare) | of which Deno/app (tool − steps) | bare min–max | " +
      "steps min–max | tool min–max |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...commits.map(({ name, bare, steps, tool }) => {
        const [b, s, t] = [median(bare), median(steps), median(tool)];
        return `| ${name} | ${ms(b)} | ${ms(s)} | ${ms(t)} | ${ms(t - b)} | ${ms(s - b)} | ` +
          `${ms(t - s)} | ${range(bare)} | ${range(steps)} | ${range(tool)} |`;
      }),
      "",
      `Target: the tool adds at most 60 ms over the bare \`docker commit\`, median: ${
        commits.every(({ bare, tool }) => median(tool) - median(bare) <= 60) ? "met" : "NOT met"
      } (overheads ${
        commits.map(({ bare, tool }) => ms(median(tool) - median(bare))).join(", ")
      } ms).`,
      ...historyTarget(commits),
      "",
      `Paired: ${pairedRuns} rounds of two re-commits in turn, a bottle with few snapshots (1 to ` +
      `${pairedRuns + 2}) and one with 10,000; the tool alone:`,
      "",
      "| Paired re-commit, 1 MB | few snapshots, median | 10,000, median | difference |",
      "| --- | ---: | ---: | ---: |",
      ...(["wall", "cpu"] as const).map((kind) => {
        const [one, long] = [median(paired.one[kind]), median(paired.long[kind])];
        return `| ${kind === "wall" ? "wall time" : "CPU time (user + sys)"} | ${ms(one)} | ` +
          `${ms(long)} | ${long - one >= 0 ? "+" : ""}${ms(long - one)} |`;
      }),
      "",
      `Where the tool's time goes: \`commit --verbose\` at 1 MB, ${timelineRuns} runs, ` +
      `stderr lines stamped on arrival:`,
      "",
      "| Interval | median | min–max |",
      "| --- | ---: | ---: |",
      ...timeline.map(({ name, samples }) =>
        `| ${name} | ${ms(median(samples))} | ${range(samples)} |`
      ),
      "",
      "| Fixed cost | median | min–max |",
      "| --- | ---: | ---: |",
      ...fixed.map(({ name, samples }) =>
        `| ${name} | ${ms(median(samples))} | ${range(samples)} |`
      ),
      "",
      "| Reading the whole history | 1 snapshot, median | 10,000, median | difference |",
      "| --- | ---: | ---: | ---: |",
      ...historyRows.map(({ name, one, long }) =>
        `| ${name} | ${ms(median(one))} | ${ms(median(long))} | ` +
        `${ms(median(long) - median(one))} |`
      ),
      "",
      `Target: \`bot-bottle --version\` within 1.3× an empty \`deno run\`: ${
        median(nth(fixed, 5).samples) <= 1.3 * median(nth(fixed, 0).samples) ? "met" : "NOT met"
      } (${(median(nth(fixed, 5).samples) / median(nth(fixed, 0).samples)).toFixed(2)}×, ` +
      `${ms(median(nth(fixed, 5).samples))} vs ${ms(median(nth(fixed, 0).samples))} ms, ` +
      `same run).`,
    ];
    console.log(lines.join("\n"));
  } finally {
    for (const slug of slugs) {
      await removeBottleObjects(slug).catch((error) =>
        console.error(`bench: cleanup of ${slug} failed: ${error}`)
      );
    }
    await Deno.remove(scratch, { recursive: true });
  }
}

/** The long-history target: overhead at 10,000 snapshots within +20 ms of that at one. */
function historyTarget(commits: CommitRow[]): string[] {
  const one = commits.find(({ name }) => name === "re-commit, 1 MB change");
  const long = commits.find(({ name }) => name.endsWith("10,000 snapshots"));
  if (!one || !long) return [];
  const overhead = (row: CommitRow) => median(row.tool) - median(row.bare);
  const extra = overhead(long) - overhead(one);
  return [
    "",
    `Target: a re-commit's overhead with 10,000 snapshots within +20 ms of that with one: ${
      extra <= 20 ? "met" : "NOT met"
    } (${ms(overhead(long))} vs ${ms(overhead(one))} ms: ${extra >= 0 ? "+" : ""}${ms(extra)}).`,
  ];
}

/**
 * Runs a command from the repository root and stamps each line of its
 * stderr with the ms since the spawn as it arrives; the last entry is the
 * exit, with empty text. Throws when it fails.
 */
async function stamped(
  env: Record<string, string>,
  argv: string[],
): Promise<{ ms: number; text: string }[]> {
  const child = rootCommand(env, argv, "null");
  const start = performance.now();
  const process = child.spawn();
  const lines: { ms: number; text: string }[] = [];
  let pending = "";
  for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) {
    const now = performance.now() - start;
    const parts = (pending + chunk).split("\n");
    pending = parts.pop()!;
    for (const text of parts) lines.push({ ms: now, text });
  }
  const status = await process.status;
  lines.push({ ms: performance.now() - start, text: "" });
  if (!status.success) {
    throw new Error(`${argv.join(" ")} failed (${status.code}): ${lines.map((l) => l.text)}`);
  }
  return lines;
}

await main();
