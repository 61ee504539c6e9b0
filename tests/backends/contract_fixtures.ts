// Each backend's fixture for the contract suite (contract.ts): how to start a
// bottle on it, reach into the bottle, and take things away behind
// bot-bottle's back. Docker and dockerlike run for real; Apple `container`
// and smolvm through their doubles (tests/_doubles/).

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import builtin from "../../registry.json" with { type: "json" };
import {
  docker,
  dockerTest,
  removeBottleObjects,
  TEST_IMAGE,
  testSlug,
} from "../_helpers/docker.ts";
import { runCli } from "../_helpers/cli.ts";
import { tempHome } from "../_helpers/temp_home.ts";
import { installDoubles } from "../_doubles/harness.ts";
import { defaultContainerWorld } from "../_doubles/container_world.ts";
import type { BackendFixture, ContractSetting } from "./contract.ts";

function quoted(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function dockerObjects(slug: string): Promise<string[]> {
  const containers = await docker("ps", "-aq", "--filter", `name=^bot-bottle-${slug}$`);
  const images = await docker("images", "-q", `bot-bottle-committed-${slug}`);
  return [...containers.split("\n"), ...images.split("\n")].filter(Boolean);
}

/** A setting on the real Docker engine; `env` adds to the temp home's environment. */
async function onDocker(env: Record<string, string> = {}): Promise<ContractSetting> {
  const home = await tempHome();
  const container = (slug: string) => `bot-bottle-${slug}`;
  return {
    home,
    env: { ...home.env, ...env },
    startArgs: ["--image", TEST_IMAGE, "--", "sleep", "3600"],
    async writeMarker(slug, text) {
      await docker("exec", container(slug), "sh", "-c", `printf %s "$1" > /marker`, "sh", text);
    },
    async readMarker(slug) {
      const output = await new Deno.Command("docker", {
        args: ["exec", container(slug), "cat", "/marker"],
        stdout: "piped",
        stderr: "null",
      }).output();
      return output.success ? new TextDecoder().decode(output.stdout) : undefined;
    },
    async removeBottle(slug) {
      await docker("rm", "--force", container(slug));
    },
    removeSnapshots: removeBottleObjects,
    leftovers: dockerObjects,
    async [Symbol.asyncDispose]() {
      const left = await Array.fromAsync(Deno.readDir(join(home.root, "state"))).catch(() => []);
      for (const entry of left) await removeBottleObjects(entry.name);
      await home[Symbol.asyncDispose]();
    },
  };
}

/** The real Docker engine. */
export const dockerFixture: BackendFixture = {
  backend: "docker",
  test: dockerTest,
  label: testSlug,
  setUp: () => onDocker(),
  missingBottle: (slug) =>
    new RegExp(`bottle "${slug}" has no container "bot-bottle-${slug}" on Docker;`),
  missingSnapshot: (slug) =>
    new RegExp(
      `of bottle "${slug}", bot-bottle-committed-${slug}:\\S+, no longer exists on docker; ` +
        `commit the bottle again, resume another snapshot, or import one`,
    ),
};

/** docker underneath, podman's error wording on top */
export const DOCKERLIKE_SHIM = `#!/usr/bin/env bash
err=$(mktemp)
docker "$@" 2>"$err"
status=$?
sed -E \\
  -e 's/^.*[Nn]o such image: .*[Nn]o such image: ([^ ]+).*$/Error: \\1: image not known/' \\
  -e 's/^.*[Nn]o such image: ([^ ]+).*$/Error: \\1: image not known/' \\
  -e 's/^.*No such (container|object): ([^ ]+).*$/Error: no container with name or ID "\\2" found/' \\
  "$err" >&2
rm -f "$err"
exit $status
`;

/** The docker entry of the built-in registry, run by `dockerlike`, worded as podman words it. */
export function dockerlikeRegistry(): unknown {
  const { docker } = builtin.backends;
  const commands = Object.fromEntries(
    Object.entries(docker.commands).map((
      [name, [executable, ...args]],
    ) => [name, [executable === "docker" ? "dockerlike" : executable, ...args]]),
  );
  return {
    backends: {
      dockerlike: {
        description: "a Docker-compatible engine",
        requires: "the dockerlike CLI",
        freezer: "builtin:docker",
        engine: {
          name: "Dockerlike",
          errors: {
            noSuchContainer: "no container with name or ID",
            noSuchImage: "image not known",
            unreachable: "unable to connect to Dockerlike",
            denied: "dockerlike socket: permission denied",
          },
          hints: {
            export: "dockerlike save -o {slug}.tar {image}",
            shell: "dockerlike exec -it {container} sh",
            list: "dockerlike ps -a",
            unreachable: "start the dockerlike service and try again",
            denied: "ask for access to the dockerlike socket",
          },
        },
        commands,
        longRunning: docker.longRunning,
      },
    },
  };
}

/**
 * The environment that declares `dockerlike` through `BOT_BOTTLE_REGISTRY`
 * alone, with the shim first on PATH; files go in `dir`.
 */
export async function dockerlikeEnv(dir: string): Promise<Record<string, string>> {
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(join(bin, "dockerlike"), DOCKERLIKE_SHIM, { mode: 0o755 });
  const registry = join(dir, "registry.json");
  await Deno.writeTextFile(registry, JSON.stringify(dockerlikeRegistry()), { mode: 0o644 });
  return {
    BOT_BOTTLE_REGISTRY: registry,
    PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
  };
}

/**
 * A Docker-compatible engine declared by a user registry alone: the built-in
 * docker module ("builtin:docker") with its own executable, error wording
 * and hints, over the real engine.
 */
export const dockerlikeFixture: BackendFixture = {
  backend: "dockerlike",
  test: dockerTest,
  label: (prefix) => testSlug(`like${prefix}`),
  async setUp() {
    const dir = await Deno.makeTempDir({ prefix: "bot-bottle-dockerlike-" });
    const setting = await onDocker(await dockerlikeEnv(dir));
    return {
      ...setting,
      checkStarted(slug, run) {
        match(
          run.stderr,
          new RegExp(`to get a shell in it: bot-bottle exec ${slug}\n`),
        );
      },
      checkCommitted(slug, run) {
        match(
          run.stderr,
          new RegExp(`to move it to another machine: bot-bottle export ${slug}\n`),
        );
      },
      async [Symbol.asyncDispose]() {
        await setting[Symbol.asyncDispose]();
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
  missingBottle: (slug) =>
    new RegExp(
      `bottle "${slug}" has no container "bot-bottle-${slug}" on Dockerlike; it has stopped ` +
        `and been removed, or was started elsewhere; see "dockerlike ps -a"`,
    ),
  missingSnapshot: (slug) =>
    new RegExp(
      `of bottle "${slug}", bot-bottle-committed-${slug}:\\S+, no longer exists on dockerlike; ` +
        `commit the bottle again, resume another snapshot, or import one`,
    ),
  // Its entry copies docker's templates but declares no "oci" wording.
  registry: {
    refused: new RegExp(
      'the "dockerlike" backend cannot (push|pull) bottles through a registry: its registry ' +
        'entry lacks the templates or the "oci" wording it needs \\(see docs/registry\\.md\\)',
    ),
  },
};

let doubleLabels = 0;

/** A unique label for a bottle on a double (each test has its own world). */
function doubleLabel(prefix: string): string {
  return `${prefix}-${++doubleLabels}`;
}

/** Apple's `container`, through its double. */
export const macosContainerFixture: BackendFixture = {
  backend: "macos-container",
  test: Deno.test,
  label: doubleLabel,
  async setUp() {
    const home = await tempHome();
    const shared = join(home.home, "shared");
    await Deno.mkdir(shared);
    const doubles = await installDoubles({
      container: {
        ...defaultContainerWorld(),
        volumes: ["cache"],
        images: [{
          reference: "docker.io/library/debian:bookworm",
          files: { "etc/debian_version": "12\n" },
          config: { Cmd: ["bash"], Env: ["PATH=/usr/bin:/bin"] },
          platform: { os: "linux", architecture: "arm64" },
        }],
      },
    });
    const id = (slug: string) => `bot-bottle-${slug}`;
    const find = async (slug: string) =>
      (await doubles.container.read()).containers.find((each) => each.id === id(slug));
    return {
      home,
      env: { ...home.env, ...doubles.env },
      startArgs: [
        "--image",
        "debian:bookworm",
        "--env",
        "AGENT=claude",
        "--volume",
        `${shared}:/mnt/shared:ro`,
        "--volume",
        "cache:/var/cache",
        "--",
        "sleep",
        "infinity",
      ],
      async writeMarker(slug, text) {
        await doubles.container.update((world) => {
          world.containers.find((each) => each.id === id(slug))!.files["work/notes.txt"] = text;
        });
      },
      async readMarker(slug) {
        return (await find(slug))?.files["work/notes.txt"];
      },
      async removeBottle(slug) {
        await doubles.container.update((world) => {
          world.containers = world.containers.filter((each) => each.id !== id(slug));
        });
      },
      async removeSnapshots(slug) {
        await doubles.container.update((world) => {
          world.images = world.images.filter((each) =>
            !each.reference.includes(`bot-bottle-committed-${slug}:`)
          );
        });
      },
      async leftovers(slug) {
        const world = await doubles.container.read();
        return [
          ...world.containers.filter((each) => each.id === id(slug)).map((each) => each.id),
          ...world.images.map((each) => each.reference).filter((reference) =>
            reference.includes(`bot-bottle-committed-${slug}:`)
          ),
        ];
      },
      async checkCommitted(slug) {
        equal(
          (await doubles.container.read()).images.some((each) =>
            each.reference === `bot-bottle-committed-${slug}:latest`
          ),
          true,
          "the snapshot is in the image store as :latest",
        );
      },
      async checkResumed(slug, run) {
        match(run.stderr, new RegExp(`to get a shell in it: bot-bottle exec ${slug}\n`));
        const container = (await find(slug))!;
        equal(container.state, "running");
        const history = (await doubles.container.read()).images.map((each) => each.reference);
        equal(
          history.some((reference) =>
            container.image.endsWith(reference) &&
            /bot-bottle-committed-.+:\d{8}T\d{6}Z/.test(reference)
          ),
          true,
          `resumed from the snapshot's own tag: ${container.image}`,
        );
        equal(container.files["etc/debian_version"], "12\n");
        deepStrictEqual(container.initProcess.arguments.slice(-1), ["infinity"]);
        equal(container.initProcess.environment.includes("AGENT=claude"), true);
        deepStrictEqual(
          container.mounts?.map((mount) => [mount.destination, mount.options.includes("ro")]),
          [["/mnt/shared", true], ["/var/cache", false]],
        );
      },
      async [Symbol.asyncDispose]() {
        await doubles[Symbol.asyncDispose]();
        await home[Symbol.asyncDispose]();
      },
    };
  },
  missingBottle: (slug) =>
    new RegExp(
      quoted(
        `bottle "${slug}" has no container "bot-bottle-${slug}" on Apple container; it has ` +
          `been deleted, or was started elsewhere; see "container list --all"`,
      ),
    ),
  missingSnapshot: (slug) =>
    new RegExp(
      `of bottle "${slug}", bot-bottle-committed-${slug}:\\S+, no longer exists on ` +
        `macos-container; commit the bottle again, resume another snapshot, or import one`,
    ),
  registry: { host: "127.0.0.1:5000" },
};

/** smolvm, through its double; the marker is written both in the machine and in /workspace. */
export const smolmachinesFixture: BackendFixture = {
  backend: "smolmachines",
  test: Deno.test,
  label: doubleLabel,
  async setUp() {
    const home = await tempHome();
    const doubles = await installDoubles();
    const env = { ...home.env, ...doubles.env };
    const name = (slug: string) => `bot-bottle-${slug}`;
    const find = async (slug: string) =>
      (await doubles.smolvm.read()).machines.find((each) => each.name === name(slug));
    return {
      home,
      env,
      startArgs: ["--image", "docker.io/library/debian:bookworm"],
      async writeMarker(slug, text) {
        await doubles.smolvm.update((world) => {
          const machine = world.machines.find((each) => each.name === name(slug))!;
          machine.files["work/notes.txt"] = text;
          machine.workspace = { ...machine.workspace, "src/main.rs": text };
        });
      },
      async readMarker(slug) {
        const machine = await find(slug);
        if (!machine) return undefined;
        const file = machine.files["work/notes.txt"];
        const workspace = machine.workspace?.["src/main.rs"];
        return file === workspace ? file : `${file} (but /workspace has ${workspace})`;
      },
      async removeBottle(slug) {
        await doubles.smolvm.update((world) => {
          world.machines = world.machines.filter((each) => each.name !== name(slug));
        });
      },
      async removeSnapshots(slug) {
        const dir = home.stateDir(slug);
        await Deno.remove(join(dir, "committed-smolmachine.smolmachine"));
        await Deno.remove(join(dir, "snapshots"), { recursive: true });
      },
      async leftovers(slug) {
        return (await doubles.smolvm.read()).machines.filter((each) => each.name === name(slug))
          .map((each) => each.name);
      },
      async checkStarted(slug, run) {
        match(run.stderr, new RegExp(`to get a shell in it: bot-bottle exec ${slug}\n`));
        const metadata = JSON.parse(
          await Deno.readTextFile(join(home.stateDir(slug), "metadata.json")),
        );
        equal(metadata.compose_project, undefined);
        // The image is pulled inside the machine: it needs the network.
        deepStrictEqual(
          (await doubles.smolvm.read()).calls.findLast((call) => call[1] === "create"),
          [
            "machine",
            "create",
            "--name",
            name(slug),
            "--net",
            "--image",
            "docker.io/library/debian:bookworm",
          ],
        );
        equal((await find(slug))?.state, "running");
      },
      async checkResumed(slug, run) {
        match(
          run.stderr,
          new RegExp(`to get a shell in it: bot-bottle exec ${slug}\n`),
        );
        const machine = await find(slug);
        equal(machine?.state, "running");
        equal(machine?.source, "smolmachine");
        equal(machine?.network, true, "the resumed machine keeps the network");
        const artifact = join(home.stateDir(slug), "committed-smolmachine.smolmachine");
        equal(
          await Deno.readTextFile(join(home.stateDir(slug), "committed-image")),
          `${artifact}\n`,
        );
        const [row] = JSON.parse((await runCli(["ls", "--json"], env)).stdout);
        equal(row.snapshot.artifact, artifact);
        equal(row.snapshot.sizeBytes, (await Deno.stat(artifact)).size);
      },
      async [Symbol.asyncDispose]() {
        await doubles[Symbol.asyncDispose]();
        await home[Symbol.asyncDispose]();
      },
    };
  },
  missingBottle: (slug) =>
    new RegExp(
      quoted(
        `bottle "${slug}" has no machine "bot-bottle-${slug}" on smolvm; it has been ` +
          `deleted, or was started elsewhere; see "smolvm machine ls"`,
      ),
    ),
  missingSnapshot: (slug) =>
    new RegExp(
      `of bottle "${slug}", \\S+/${slug}/snapshots/\\d{8}T\\d{6}Z\\.smolmachine, no longer ` +
        `exists on smolmachines; commit the bottle again, resume another snapshot, or import one`,
    ),
  registry: {
    refused: new RegExp(
      "the smolmachines backend cannot (push|pull) bottles through a registry: smolvm pack push " +
        "takes only \\.smolmachine files, so the bottle's state cannot travel beside its " +
        "snapshot; move it with bot-bottle export and bot-bottle import",
    ),
  },
};
