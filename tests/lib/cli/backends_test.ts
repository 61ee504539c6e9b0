// `bot-bottle backends`: one row per registry backend, what it reports here
// (real Docker, the doubles at current and old versions, a missing CLI, a
// stopped engine), where the registry came from; exit 0 whatever is missing.

import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import $ from "dax";
import { runCli } from "../../_helpers/cli.ts";
import { dockerTest } from "../../_helpers/docker.ts";
import { tempHome } from "../../_helpers/temp_home.ts";
import { installDoubles } from "../../_doubles/harness.ts";
import { defaultContainerWorld } from "../../_doubles/container_world.ts";
import { defaultSmolvmWorld } from "../../_doubles/smolvm_world.ts";
import { dockerlikeEnv } from "../../backends/contract_fixtures.ts";
import type { BackendRow } from "../../../lib/ops/backends.ts";
import { present } from "../../_helpers/present.ts";

type Row = BackendRow;

async function rows(env: Record<string, string>): Promise<Record<string, Row>> {
  const run = await runCli(["backends", "--json"], env);
  equal(run.code, 0, run.stderr);
  equal(run.stderr, "");
  const list = JSON.parse(run.stdout) as Row[];
  deepEqual(Object.keys(present(list[0])), [
    "name",
    "aliases",
    "available",
    "version",
    "features",
    "problem",
    "registry",
  ]);
  return Object.fromEntries(list.map((row) => [row.name, row]));
}

dockerTest("backends shows Docker available here, at the engine's own version", async () => {
  await using home = await tempHome();
  const engine = (await $`docker version --format ${"{{.Server.Version}}"}`.text()).trim();
  const { docker } = await rows(home.env);
  deepEqual(docker, {
    name: "docker",
    aliases: [""],
    available: true,
    version: engine,
    features: [],
    problem: null,
    registry: "built-in",
  });
  const table = await runCli(["backends"], home.env);
  equal(table.code, 0, table.stderr);
  match(table.stdout, /^BACKEND +ALIASES +AVAILABLE +VERSION +FEATURES +REGISTRY$/m);
  match(
    table.stdout,
    new RegExp(
      `^docker +"" +yes +${engine.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} +- +built-in$`,
      "m",
    ),
  );
});

Deno.test("backends on the doubles at current versions: Apple live export, smolvm workspace packs", async () => {
  await using home = await tempHome();
  await using doubles = await installDoubles({
    container: { ...defaultContainerWorld(), version: "1.2.1" },
    smolvm: { ...defaultSmolvmWorld(), version: "1.25.4" },
  });
  const found = await rows({ ...home.env, ...doubles.env });
  deepEqual(
    [
      present(found["macos-container"]).available,
      present(found["macos-container"]).version,
      present(found["macos-container"]).features,
    ],
    [true, "1.2.1", ["export", "live export"]],
  );
  deepEqual(
    [
      present(found.smolmachines).available,
      present(found.smolmachines).version,
      present(found.smolmachines).features,
    ],
    [true, "1.25.4", ["workspace packs"]],
  );
  const table = await runCli(["backends"], { ...home.env, ...doubles.env });
  match(table.stdout, /^macos-container +- +yes +1\.2\.1 +export, live export +built-in$/m);
  match(table.stdout, /^smolmachines +- +yes +1\.25\.4 +workspace packs +built-in$/m);
});

Deno.test("backends on the doubles at old versions: fewer features, and a smolvm too old is not available", async () => {
  await using home = await tempHome();
  await using doubles = await installDoubles({
    container: { ...defaultContainerWorld(), version: "1.0.0" },
    smolvm: { ...defaultSmolvmWorld(), version: "1.20.0" },
  });
  const old = await rows({ ...home.env, ...doubles.env });
  deepEqual(
    [
      present(old["macos-container"]).available,
      present(old["macos-container"]).version,
      present(old["macos-container"]).features,
    ],
    [true, "1.0.0", ["export"]],
  );
  deepEqual(
    [
      present(old.smolmachines).available,
      present(old.smolmachines).version,
      present(old.smolmachines).features,
    ],
    [true, "1.20.0", []],
  );
  await doubles.smolvm.update((world) => world.version = "1.8.0");
  const tooOld = (await rows({ ...home.env, ...doubles.env })).smolmachines;
  deepEqual([tooOld?.available, tooOld?.version], [false, "1.8.0"]);
  equal(tooOld?.problem, "smolvm 1.8.0 is too old: bot-bottle needs 1.9.0 or later");
});

Deno.test("backends with no CLI on PATH and a stopped container service: rows say so, exit 0", async () => {
  await using home = await tempHome();
  const empty = join(home.home, "empty-bin");
  await Deno.mkdir(empty);
  const none = await rows({ ...home.env, PATH: empty });
  for (const row of Object.values(none)) {
    equal(row.available, false);
    match(row.problem ?? "", /is not installed or not on PATH/);
  }
  await using doubles = await installDoubles({
    container: { ...defaultContainerWorld(), serviceRunning: false },
  });
  const stopped = (await rows({ ...home.env, ...doubles.env }))["macos-container"];
  equal(stopped?.available, false);
  match(stopped?.problem ?? "", /^the container system service is not running; start it with/);
  const stoppedDocker = await rows({
    ...home.env,
    DOCKER_HOST: `unix://${join(home.home, "no-engine.sock")}`,
  });
  equal(stoppedDocker.docker?.available, false);
  match(stoppedDocker.docker?.problem ?? "", /start Docker and try again/);
  const table = await runCli(["backends"], { ...home.env, PATH: empty });
  equal(table.code, 0);
  match(table.stdout, /^docker +"" +no +- +- +built-in$/m);
  match(table.stderr, /^smolmachines: "smolvm" is not installed or not on PATH;/m);
});

Deno.test("backends names BOT_BOTTLE_REGISTRY's file as the registry, with its backends", async () => {
  await using home = await tempHome();
  const env = { ...home.env, ...await dockerlikeEnv(home.home) };
  const found = await rows(env);
  deepEqual(Object.keys(found), ["dockerlike"]);
  equal(found.dockerlike?.registry, env.BOT_BOTTLE_REGISTRY);
  const table = await runCli(["backends"], env);
  match(table.stdout, new RegExp(`^dockerlike .* ${env.BOT_BOTTLE_REGISTRY}$`, "m"));
});

Deno.test("backends takes no arguments: a usage error", async () => {
  const run = await runCli(["backends", "docker"]);
  equal(run.code, 2);
  equal(
    run.stderr,
    'bot-bottle: error: backends takes no arguments; run "bot-bottle backends --help" for usage\n',
  );
});
