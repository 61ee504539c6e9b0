/**
 * Benchmark: `bot-bottle commit <slug>` against a bare `docker commit`, on a
 * real Docker engine. Run with `deno task bench`; BENCH_RUNS=<n> sets the
 * number of timed runs per case (default 7 for 1 MB, 5 for 200 MB), after one
 * warm-up. Prints Markdown tables on stdout, progress on stderr. See
 * docs/benchmarks.md for results and analysis.
 *
 * Every sample uses a fresh container `bot-bottle-<slug>` from the test image
 * holding the same change (`dd` of N MB of random data to /data.bin), so the
 * tool and the bare command do the same work. The bare command is the one the
 * registry's `commit` template renders (`docker commit --change LABEL ...`),
 * so the overhead measured is the tool's alone.
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
import { childEnv, DENO, median, ms, progress, range, ROOT, runsFor, timed } from "./_common.ts";

type Side = "bare" | "tool";

interface CommitRow {
  name: string;
  bare: number[];
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
  const env = childEnv(home.home);
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
  const toolCommit = async (slug: string) => {
    const result = await timed(env, [DENO, "run", "-A", "main.ts", "commit", slug]);
    // Outside the timing: the tool really recorded the snapshot.
    const recorded = await Deno.readTextFile(`${home.stateDir(slug)}/committed-image`);
    if (recorded.trim() !== `bot-bottle-committed-${slug}:latest`) {
      throw new Error(`unexpected committed-image for ${slug}: ${JSON.stringify(recorded)}`);
    }
    return result;
  };
  const prune = (slug: string) =>
    timed(env, [
      "docker",
      "image",
      "prune",
      "--force",
      "--filter",
      `label=bot-bottle.slug=${slug}`,
    ]);

  /** A fresh bottle holding the change, with its state directory. */
  async function freshBottle(mb: number): Promise<string> {
    const slug = testSlug("bench");
    slugs.add(slug);
    const bottle = await startBottle(slug);
    await bottle.exec("dd", "if=/dev/urandom", "of=/data.bin", "bs=1M", `count=${mb}`);
    await home.writeBottle(slug, launcherMetadata(slug));
    return slug;
  }

  async function dispose(slug: string): Promise<void> {
    await removeBottleObjects(slug);
    slugs.delete(slug);
    await Deno.remove(home.stateDir(slug), { recursive: true });
  }

  try {
    const commits: CommitRow[] = [];
    const prunes: FixedRow[] = [];
    for (const [mb, defaultRuns] of [[1, 7], [200, 5]]) {
      const runs = runsFor(defaultRuns);
      const first: CommitRow = { name: `commit, ${mb} MB change`, bare: [], tool: [] };
      const again: CommitRow = { name: `re-commit, ${mb} MB change`, bare: [], tool: [] };
      const pruned: FixedRow = {
        name: `\`docker image prune --filter label=…\` after a bare re-commit, ${mb} MB`,
        samples: [],
      };
      // Run -1 is the warm-up; the order of the two sides alternates.
      for (let run = -1; run < runs; run++) {
        progress(`${mb} MB, ${run < 0 ? "warm-up" : `run ${run + 1}/${runs}`}`);
        const sides: Side[] = run % 2 === 0 ? ["bare", "tool"] : ["tool", "bare"];
        for (const side of sides) {
          // (a)/(b): the first commit of a fresh bottle.
          let slug = await freshBottle(mb);
          const commit = side === "bare" ? bareCommit : toolCommit;
          const once = await commit(slug);
          await dispose(slug);
          // (c): a second commit of the same bottle; the tool also prunes the
          // previous image, which the bare side times on its own.
          slug = await freshBottle(mb);
          await commit(slug);
          const twice = await commit(slug);
          const pruning = side === "bare" ? await prune(slug) : undefined;
          await dispose(slug);
          if (run < 0) continue;
          first[side].push(once.ms);
          again[side].push(twice.ms);
          if (pruning) pruned.samples.push(pruning.ms);
        }
      }
      commits.push(first, again);
      prunes.push(pruned);
    }

    // (d): fixed costs.
    const empty = `${scratch}/empty.ts`;
    const probe = `${scratch}/dax_import.ts`;
    await Deno.writeTextFile(empty, "");
    await Deno.writeTextFile(
      probe,
      [
        "const start = performance.now();",
        'await import("dax");',
        "console.log(performance.now() - start);",
      ].join("\n"),
    );
    const config = `${ROOT}deno.json`;
    const fixed: FixedRow[] = [
      { name: "`deno run` of an empty script", samples: [] },
      { name: '`deno run` of a script doing `await import("dax")` (npm dax)', samples: [] },
      { name: '… of which `await import("dax")`, timed inside the script', samples: [] },
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
      const dax = await timed(env, [DENO, "run", "-A", "--config", config, probe]);
      samples.push(dax.ms, Number(dax.stdout.trim()));
      samples.push((await timed(env, [DENO, "run", "-A", "main.ts", "--version"])).ms);
      samples.push((await timed(env, ["docker", "--version"])).ms);
      samples.push((await timed(env, ["docker", "ps"])).ms);
      if (run < 0) continue;
      samples.forEach((value, index) => fixed[index].samples.push(value));
    }

    const lines = [
      `Commit: ${runsFor(7)} runs at 1 MB, ${runsFor(5)} at 200 MB, after one warm-up; ` +
      `times in ms, wall clock around the subprocess.`,
      "",
      "| Case | bare median | tool median | tool/bare | overhead (tool − bare) | bare min–max | tool min–max |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...commits.map(({ name, bare, tool }) => {
        const [b, t] = [median(bare), median(tool)];
        return `| ${name} | ${ms(b)} | ${ms(t)} | ${(t / b).toFixed(2)} | ${ms(t - b)} | ` +
          `${range(bare)} | ${range(tool)} |`;
      }),
      "",
      "| Fixed cost | median | min–max |",
      "| --- | ---: | ---: |",
      ...[...fixed, ...prunes].map(({ name, samples }) =>
        `| ${name} | ${ms(median(samples))} | ${range(samples)} |`
      ),
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

await main();
