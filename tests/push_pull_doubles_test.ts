// bot-bottle push and pull on Apple `container`, through its double and the
// doubles' registry (tests/_doubles/registry.ts): every failure at the
// registry is one line naming the registry and the next step, with nothing
// written and nothing left in the image store. (The round trip is in the
// backend contract; Docker, for real, in push_pull_test.ts.)

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_helpers/cli.ts";
import { snapshotTree, type TempHome, tempHome } from "./_helpers/temp_home.ts";
import { type Doubles, installDoubles } from "./_doubles/harness.ts";
import { defaultContainerWorld } from "./_doubles/container_world.ts";
import { writeCompanion } from "../lib/archive/companion.ts";
import { writeOciImageArchive } from "../lib/archive/oci_image_layout.ts";

const HOST = "127.0.0.1:5000";

/** A committed Apple container bottle `dev`, pushed as `127.0.0.1:5000/team/dev:v1`. */
async function pushedOnDoubles(): Promise<
  { doubles: Doubles; home: TempHome; env: Record<string, string> } & AsyncDisposable
> {
  const home = await tempHome();
  const doubles = await installDoubles({
    container: {
      ...defaultContainerWorld(),
      images: [{
        reference: "docker.io/library/debian:bookworm",
        files: { "etc/debian_version": "12\n" },
        config: { Cmd: ["bash"] },
        platform: { os: "linux", architecture: "arm64" },
      }],
    },
  });
  const env = { ...home.env, ...doubles.env };
  const cli = (...args: string[]) => runCli(args, env);
  const ok0 = (run: { code: number; stderr: string }) => equal(run.code, 0, run.stderr);
  ok0(
    await cli(
      "start",
      "--backend",
      "macos-container",
      "--image",
      "debian:bookworm",
      "--name",
      "dev",
    ),
  );
  ok0(await cli("commit", "dev", "--yes"));
  ok0(await cli("push", "dev", `${HOST}/team/dev:v1`));
  return {
    doubles,
    home,
    env,
    async [Symbol.asyncDispose]() {
      await doubles[Symbol.asyncDispose]();
      await home[Symbol.asyncDispose]();
    },
  };
}

/**
 * Runs the CLI and asserts one error line matching `pattern`, the state root
 * and the image store as they were, and nothing in TMPDIR.
 */
async function refused(
  setting: { doubles: Doubles; home: TempHome; env: Record<string, string> },
  args: string[],
  pattern: RegExp,
): Promise<void> {
  const before = await snapshotTree(setting.home.root);
  const images = (await setting.doubles.container.read()).images.map((image) => image.reference);
  const run = await runCli(args, setting.env);
  equal(run.code, 1, `${args.join(" ")}: ${run.stderr}`);
  equal(run.stderr.split("\n").filter(Boolean).length, 1, run.stderr);
  match(run.stderr, pattern);
  deepStrictEqual(await snapshotTree(setting.home.root), before);
  deepStrictEqual(
    (await setting.doubles.container.read()).images.map((image) => image.reference),
    images,
  );
  deepStrictEqual(await Array.fromAsync(Deno.readDir(setting.doubles.tmp)), []);
}

const E = "^bot-bottle: error: ";
const PULL = ["pull", `${HOST}/team/dev:v1`, "--backend", "macos-container", "--name", "copy"];

Deno.test("macos-container: push and pull of an unreachable registry, one line naming it", async () => {
  await using setting = await pushedOnDoubles();
  await setting.doubles.registry.write({ hosts: { [HOST]: { reachable: false } } });
  const unreachable = new RegExp(
    `${E}cannot reach the registry 127\\.0\\.0\\.1:5000 \\(.*could not connect to ` +
      `http://127\\.0\\.0\\.1:5000/v2/.*\\); check that the registry runs and that this ` +
      `machine reaches 127\\.0\\.0\\.1:5000, then try again\n$`,
  );
  await refused(setting, ["push", "dev", `${HOST}/team/dev:v2`], unreachable);
  await refused(setting, PULL, unreachable);
  // A bad --name is refused first, before the registry is asked anything.
  await refused(
    setting,
    [...PULL.slice(0, -1), "Bad!"],
    new RegExp(`${E}"Bad!" is not a valid bottle slug; .*\n$`),
  );
});

Deno.test("macos-container: push and pull without a login name container registry login", async () => {
  await using setting = await pushedOnDoubles();
  await setting.doubles.registry.write({ hosts: { [HOST]: { users: { ann: "pw" } } } });
  const unauthorized = new RegExp(
    `${E}the registry 127\\.0\\.0\\.1:5000 refused access to .*; run "container registry ` +
      `login 127\\.0\\.0\\.1:5000" and try again\n$`,
  );
  await refused(setting, ["push", "dev", `${HOST}/team/dev:v2`], unauthorized);
  await refused(setting, PULL, unauthorized);
});

Deno.test("macos-container: a registry whose certificate is not trusted names the keychain", async () => {
  await using setting = await pushedOnDoubles();
  const host = "registry.example.com";
  await setting.doubles.registry.write({
    hosts: { [HOST]: {}, [host]: { tls: true, untrusted: true } },
  });
  await refused(
    setting,
    ["push", "dev", `${host}/team/dev:v1`],
    new RegExp(
      `${E}the registry ${host}'s TLS certificate is not trusted here \\(.*\\); trust its CA ` +
        `in the macOS keychain \\(security add-trusted-cert\\), then try again\n$`,
    ),
  );
});

Deno.test("macos-container: pull refuses an unknown tag, a plain image, a tampered state, a name in the store", async () => {
  await using setting = await pushedOnDoubles();
  await refused(
    setting,
    ["pull", `${HOST}/team/dev:nope`, "--backend", "macos-container"],
    new RegExp(`${E}unknown tag: the registry 127\\.0\\.0\\.1:5000 has no .*dev:nope; `),
  );

  // A plain image pushed by `container image push`.
  await setting.doubles.container.update((world) => {
    world.images.push({ ...world.images[0]!, reference: `${HOST}/team/plain:v1` });
  });
  const push = await new Deno.Command("container", {
    args: ["image", "push", "--scheme", "http", `${HOST}/team/plain:v1`],
    env: setting.doubles.env,
    stdout: "null",
  }).output();
  equal(push.code, 0);
  await setting.doubles.container.update((world) => {
    world.images = world.images.filter((image) => image.reference !== `${HOST}/team/plain:v1`);
  });
  await refused(
    setting,
    ["pull", `${HOST}/team/plain:v1`, "--backend", "macos-container"],
    new RegExp(`${E}127\\.0\\.0\\.1:5000/team/plain:v1 is not a bottle: the registry holds it`),
  );

  // Its state's blob altered in the registry.
  const repo = join(setting.doubles.registry.dir, HOST, "team/dev");
  const digest = await Deno.readTextFile(join(repo, "tags", "v1.bottle"));
  const manifest = JSON.parse(
    await Deno.readTextFile(join(repo, "manifests", `${digest.slice(7)}.json`)),
  );
  await Deno.writeTextFile(join(repo, "blobs", manifest.layer.digest.slice(7)), "tampered");
  await refused(
    setting,
    PULL,
    new RegExp(
      `${E}digest mismatch: what the registry 127\\.0\\.0\\.1:5000 sent for .*v1\\.bottle`,
    ),
  );

  // The reference's name already in the image store: a pull would replace it.
  const ok = await runCli(["push", "dev", `${HOST}/team/dev:v1`], setting.env);
  equal(ok.code, 0, ok.stderr);
  await setting.doubles.container.update((world) => {
    world.images.push({ ...world.images[0]!, reference: `${HOST}/team/dev:v1.bottle` });
  });
  await refused(
    setting,
    PULL,
    new RegExp(
      `${E}the name 127\\.0\\.0\\.1:5000/team/dev:v1\\.bottle is already in the container image ` +
        `store, and going through the registry would replace it; `,
    ),
  );
});

Deno.test("pull refuses a bottle pushed from another backend, naming the --backend to use", async () => {
  await using setting = await pushedOnDoubles();
  // The state of a Docker bottle, carried as Apple carries one, beside the Apple snapshot's tag.
  const dir = await Deno.makeTempDir({ dir: setting.doubles.dir });
  const state = join(dir, "state.tar");
  await writeCompanion(state, {
    manifest: {
      slug: "dev",
      backend: "docker",
      snapshot: {
        id: "20261124T141500Z",
        createdAt: "2026-11-24T14:15:00Z",
        parent: null,
        message: null,
      },
      lineage: ["20261124T141500Z"],
      toolVersion: "0.1.0",
      artifact: { ref: `${HOST}/team/dev:v1`, digest: `sha256:${"a".repeat(64)}` },
    },
    metadataJson: JSON.stringify({ identity: "dev", backend: "docker" }),
  });
  const layout = join(dir, "layout.tar");
  await writeOciImageArchive(join(dir, "work"), {
    references: [`${HOST}/team/other:v1.bottle`],
    layer: state,
    config: {},
    platform: { os: "linux", architecture: "arm64" },
  }, layout);
  for (
    const args of [["image", "load", "-i", layout], [
      "image",
      "push",
      "--scheme",
      "http",
      `${HOST}/team/other:v1.bottle`,
    ], ["image", "delete", `${HOST}/team/other:v1.bottle`]]
  ) {
    const run = await new Deno.Command("container", {
      args,
      env: setting.doubles.env,
      stdout: "null",
    }).output();
    equal(run.code, 0, args.join(" "));
  }
  await Deno.remove(dir, { recursive: true });
  await refused(
    setting,
    ["pull", `${HOST}/team/other:v1`, "--backend", "macos-container"],
    new RegExp(
      `${E}127\\.0\\.0\\.1:5000/team/other:v1 is a bottle of the "docker" backend; pull it with --backend docker; nothing was written\n$`,
    ),
  );
});
