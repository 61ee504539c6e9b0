/**
 * Benchmark: `bot-bottle resume <slug>` against a bare `docker run --detach`
 * plus one `docker container inspect`, on a real Docker engine, for a 200 MB
 * snapshot. `deno task bench` runs it after the commit bench; BENCH_RUNS=<n>
 * sets the number of timed runs (default 7), after one warm-up. Prints
 * Markdown tables on stdout, progress on stderr. See docs/benchmarks.md for
 * results and analysis.
 *
 * One bottle from the test image gets a 200 MB change (`dd` of random data to
 * /data.bin) and is committed once with the tool, which records
 * `committed-image`, `snapshots.json` and `run-config.json`. Every sample
 * then removes the container `bot-bottle-<slug>` (not timed) and boots it
 * again from the snapshot's own tag, `bot-bottle-committed-<slug>:<id>`,
 * either with the tool or bare. The bare side runs the commands the
 * registry's `run` and `state` templates render for the recorded run
 * configuration: the least that resume must do to boot the bottle and know it
 * is running. So the overhead measured is the tool's alone, which includes
 * the fixed wait (SETTLE_MS) before the tool checks that the bottle stayed
 * up; the last line gives the overhead beyond that wait.
 *
 * @module
 */

import {
  docker,
  ensureTestImage,
  noDockerReason,
  removeBottleObjects,
  startBottle,
  TEST_IMAGE,
  testSlug,
} from "../tests/_helpers/docker.ts";
import { launcherMetadata, tempHome } from "../tests/_helpers/temp_home.ts";
import { loadRegistry } from "../lib/registry/registry.ts";
import { parseRunConfig, runValues } from "../lib/state/run_config.ts";
import { renderTemplate } from "../lib/registry/template.ts";
import { SETTLE_MS } from "../lib/ops/stays_up.ts";
import {
  childEnv,
  DENO,
  median,
  ms,
  nth,
  progress,
  range,
  ROOT,
  runsFor,
  timed,
} from "./_common.ts";

/** The size of the change committed into the snapshot, in MB. */
const SNAPSHOT_MB = 200;

/** The target from the issue: resume to a running bottle in under 2 s. */
const TARGET_MS = 2000;
/** The tool's overhead over the bare `docker run -d` and state inspect, in ms. */
const TARGET_OVERHEAD_MS = 100;

type Side = "bare" | "tool";

interface FixedRow {
  name: string;
  samples: number[];
}

async function main(): Promise<void> {
  if (noDockerReason) throw new Error(`the bench needs Docker: ${noDockerReason}`);
  await ensureTestImage();

  await using home = await tempHome();
  const env = childEnv(home.home);
  const slug = testSlug("bench");
  const container = `bot-bottle-${slug}`;

  try {
    // The snapshot: a bottle with the change, committed once by the tool.
    progress(`making a ${SNAPSHOT_MB} MB snapshot`);
    const bottle = await startBottle(slug);
    await bottle.exec("dd", "if=/dev/urandom", "of=/data.bin", "bs=1M", `count=${SNAPSHOT_MB}`);
    await home.writeBottle(slug, launcherMetadata(slug));
    await timed(env, [DENO, "run", "-A", "main.ts", "commit", slug]);
    const current = (await Deno.readTextFile(`${home.stateDir(slug)}/committed-image`)).trim();
    if (current !== bottle.image) throw new Error(`unexpected committed-image: ${current}`);
    // Resume boots the newest snapshot's own tag, `bot-bottle-committed-<slug>:<id>`.
    const history = JSON.parse(
      await Deno.readTextFile(`${home.stateDir(slug)}/snapshots.json`),
    ) as { snapshots: { artifact: string }[] };
    const image = history.snapshots.at(-1)!.artifact;
    const config = parseRunConfig(
      JSON.parse(await Deno.readTextFile(`${home.stateDir(slug)}/run-config.json`)),
    );
    if (!config) throw new Error(`the commit recorded no valid run-config.json for ${slug}`);
    const imageBytes = Number(await docker("image", "inspect", "--format", "{{.Size}}", image));

    // The bare side: what the registry's templates render for this bottle.
    const registry = await loadRegistry({ path: `${ROOT}registry.json` });
    const { commands } = registry.resolve("docker");
    const template = (name: string) => {
      const found = commands[name];
      if (found === undefined) throw new Error(`the docker backend has no "${name}" template`);
      return found;
    };
    const bareRun = renderTemplate(template("run"), {
      container,
      slug,
      image,
      ...runValues(config),
      args: [],
    });
    const bareState = renderTemplate(template("state"), { container });
    const imageCheck = renderTemplate(template("imageId"), { image });
    // The same run of the base test image, without the snapshot's 200 MB layer.
    const baseRun = renderTemplate(template("run"), {
      container,
      slug,
      image: TEST_IMAGE,
      ...runValues(config),
      args: ["sleep", "3600"],
    });
    const toolResume = [DENO, "run", "-A", "main.ts", "resume", slug];
    /** A command for the tables, with the bottle's names as placeholders. */
    const shown = (argv: string[], words = argv.length) =>
      "`" + argv.slice(0, words).join(" ").replaceAll(image, "<image>")
        .replaceAll(container, "<container>") +
      (words < argv.length ? " …`" : "`");

    /** Outside the timing: the bottle runs, from the snapshot. */
    const checkRunning = async (side: Side): Promise<void> => {
      const state = await docker(
        "container",
        "inspect",
        "--format",
        "{{.State.Status}} {{.Config.Image}}",
        container,
      );
      if (state !== `running ${image}`) {
        throw new Error(`after the ${side} resume, ${container} is "${state}"`);
      }
    };

    const resumes = { bare: [] as number[], tool: [] as number[] };
    const bareParts: FixedRow[] = [
      { name: `bare ${shown(bareRun, 3)} alone`, samples: [] },
      { name: `bare ${shown(bareState)} alone (running)`, samples: [] },
    ];
    const runs = runsFor(7);
    // Run -1 is the warm-up; the order of the two sides alternates.
    for (let run = -1; run < runs; run++) {
      progress(`resume, ${run < 0 ? "warm-up" : `run ${run + 1}/${runs}`}`);
      const sides: Side[] = run % 2 === 0 ? ["bare", "tool"] : ["tool", "bare"];
      for (const side of sides) {
        await docker("rm", "-f", container);
        let elapsed: number;
        if (side === "bare") {
          const started = await timed(env, bareRun);
          const state = await timed(env, bareState);
          if (state.stdout.trim() !== "running") {
            throw new Error(`bare: ${container} is "${state.stdout.trim()}", not running`);
          }
          elapsed = started.ms + state.ms;
          if (run >= 0) {
            nth(bareParts, 0).samples.push(started.ms);
            nth(bareParts, 1).samples.push(state.ms);
          }
        } else {
          elapsed = (await timed(env, toolResume)).ms;
        }
        await checkRunning(side);
        if (run >= 0) resumes[side].push(elapsed);
      }
    }

    // What resume runs besides the bare side's two commands, and its start-up.
    await docker("rm", "-f", container);
    const fixed: FixedRow[] = [
      { name: `${shown(imageCheck)} (resume's snapshot check)`, samples: [] },
      {
        name: `${shown(bareState)} of the absent bottle (1st probe)`,
        samples: [],
      },
      { name: "`deno run -A main.ts --version` (no dax)", samples: [] },
      {
        name: `bare ${shown(baseRun, 3)} of the base test image instead (no 200 MB layer)`,
        samples: [],
      },
    ];
    for (let run = -1; run < runs; run++) {
      progress(`resume's extra costs, ${run < 0 ? "warm-up" : `run ${run + 1}/${runs}`}`);
      const absent = await timed(env, bareState, { mayFail: true });
      if (!/No such (container|object)/i.test(absent.stderr)) {
        throw new Error(`expected ${container} to be absent: ${absent.stderr.trim()}`);
      }
      const samples = [
        (await timed(env, imageCheck)).ms,
        absent.ms,
        (await timed(env, [DENO, "run", "-A", "main.ts", "--version"])).ms,
        (await timed(env, baseRun)).ms,
      ];
      await docker("rm", "-f", container);
      if (run < 0) continue;
      samples.forEach((value, index) => nth(fixed, index).samples.push(value));
    }

    const [bare, tool] = [median(resumes.bare), median(resumes.tool)];
    const worst = Math.max(...resumes.tool);
    const met = tool < TARGET_MS && worst < TARGET_MS;
    const lines = [
      `Resume: ${runs} runs after one warm-up; snapshot of a ${SNAPSHOT_MB} MB change, image ` +
      `size ${(imageBytes / 1e6).toFixed(0)} MB; times in ms, wall clock around the ` +
      `subprocesses; the container is removed, untimed, before every sample.`,
      "",
      "| Case | bare median | tool median | tool/bare | overhead (tool − bare) | bare min–max | tool min–max |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      `| resume, ${SNAPSHOT_MB} MB snapshot | ${ms(bare)} | ${ms(tool)} | ` +
      `${(tool / bare).toFixed(2)} | ${ms(tool - bare)} | ${range(resumes.bare)} | ` +
      `${range(resumes.tool)} |`,
      "",
      "| Part | median | min–max |",
      "| --- | ---: | ---: |",
      ...[...bareParts, ...fixed].map(({ name, samples }) =>
        `| ${name} | ${ms(median(samples))} | ${range(samples)} |`
      ),
      "",
      `Target: resume to a running bottle in under ${TARGET_MS} ms: ` +
      `${met ? "met" : "NOT met"} (tool median ${ms(tool)} ms, slowest ${ms(worst)} ms).`,
      `Target: resume adds at most ${TARGET_OVERHEAD_MS} ms over the bare pair, median: ` +
      `${tool - bare <= TARGET_OVERHEAD_MS ? "met" : "NOT met"} (${ms(tool - bare)} ms).`,
      `Of the overhead, ${SETTLE_MS} ms is the wait before resume checks that the bottle ` +
      `stayed up (lib/ops/stays_up.ts; the bare pair checks at once): beyond it the tool adds ` +
      `${ms(tool - bare - SETTLE_MS)} ms.`,
    ];
    console.log(lines.join("\n"));
  } finally {
    await removeBottleObjects(slug).catch((error) =>
      console.error(`bench: cleanup of ${slug} failed: ${error}`)
    );
  }
}

await main();
