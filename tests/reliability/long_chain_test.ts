// commit → resume → commit … far past Docker's layer limit (~125): the
// snapshot that nears it is flattened, once, and nothing is lost.

import { deepStrictEqual, equal } from "node:assert/strict";
import { FLATTEN_AT_LAYERS } from "../../backends/docker.ts";
import { commit, resume, terminalPrompter } from "../../mod.ts";
import { assertConsistent } from "../_helpers/consistency.ts";
import { docker, dockerTest, startBottle, testSlug } from "../_helpers/docker.ts";
import { tempHome } from "../_helpers/temp_home.ts";

const CYCLES = 150;

interface ImageFacts {
  layers: number;
  cmd: string[];
  env: string[];
  labels: Record<string, string>;
}

async function facts(image: string): Promise<ImageFacts> {
  const [inspected] = JSON.parse(await docker("image", "inspect", image));
  return {
    layers: inspected.RootFS.Layers.length,
    cmd: inspected.Config.Cmd,
    env: inspected.Config.Env,
    labels: inspected.Config.Labels,
  };
}

dockerTest(
  `${CYCLES} commit/resume cycles of one bottle: flattened once near the layer limit, the first and last changes still there`,
  async () => {
    await using home = await tempHome();
    await using bottle = await startBottle(testSlug("chain"));
    const dir = await home.writeBottle(bottle.slug);
    const lines: string[] = [];
    const options = {
      root: home.root,
      log: (line: string) => lines.push(line),
      prompter: terminalPrompter({ yes: true }),
    };
    let previous = await facts(bottle.image).catch(() => undefined);
    let flattenedAt: number | undefined;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await bottle.exec("sh", "-c", `mkdir -p /markers && echo ${cycle} > /markers/${cycle}`);
      await commit(bottle.slug, options);
      const now = await facts(bottle.image);
      if (previous && now.layers < previous.layers) {
        // The snapshot that reached the limit is one layer, with the same config.
        flattenedAt = previous.layers + 1;
        equal(now.layers, 1);
        deepStrictEqual({ ...now, layers: 0 }, { ...previous, layers: 0 });
      }
      previous = now;
      await resume(bottle.slug, { ...options, replace: true });
    }
    equal(flattenedAt, FLATTEN_AT_LAYERS);
    const flattened = lines.filter((line) => line.includes("flattening it into one layer"));
    equal(flattened.length, 1, lines.join("\n"));
    equal((await facts(bottle.image)).layers, CYCLES - (FLATTEN_AT_LAYERS - 1) + 1);
    equal(await bottle.exec("cat", "/markers/1"), "1");
    equal(await bottle.exec("cat", `/markers/${CYCLES}`), String(CYCLES));
    equal((await bottle.exec("ls", "/markers")).split("\n").length, CYCLES);
    // Retention kept the newest 10; every one of them exists, nothing dangles.
    equal((await assertConsistent(dir, bottle.slug)).ids.length, 10);
  },
  { slow: true },
);
