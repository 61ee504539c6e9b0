// A Docker-compatible engine declared by a user registry alone: the backend
// `dockerlike` reuses the built-in docker module ("builtin:docker") with its
// own executable, error wording and hints. The executable is a shim first on
// PATH that runs the real docker and rewrites its errors into podman's
// wording, so only the registry's patterns can tell a missing container or
// image from a failure.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import builtin from "../../registry.json" with { type: "json" };
import { runCli } from "../_helpers/cli.ts";
import {
  docker,
  dockerTest,
  removeBottleObjects,
  TEST_IMAGE,
  testSlug,
} from "../_helpers/docker.ts";
import { snapshotTree, tempHome } from "../_helpers/temp_home.ts";

const SHIM = `#!/usr/bin/env bash
# docker underneath, podman's error wording on top
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
function dockerlikeRegistry(): unknown {
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

dockerTest(
  "a user registry's dockerlike backend (builtin:docker, its own wording): start → commit → destroy --keep-snapshot → resume → ls → destroy, missing objects named",
  async () => {
    await using home = await tempHome();
    const bin = join(home.home, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(join(bin, "dockerlike"), SHIM, { mode: 0o755 });
    const registry = join(home.home, "registry.json");
    await Deno.writeTextFile(registry, JSON.stringify(dockerlikeRegistry()), { mode: 0o644 });
    const env = {
      ...home.env,
      BOT_BOTTLE_REGISTRY: registry,
      PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    };
    // The shim speaks podman: docker's words are gone from its errors.
    const shim = await new Deno.Command("dockerlike", {
      args: ["image", "inspect", "bot-bottle-no-such-image-x"],
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    equal(
      new TextDecoder().decode(shim.stderr),
      "Error: bot-bottle-no-such-image-x:latest: image not known\n",
    );
    const label = testSlug("like");
    const container = `bot-bottle-${label}`;
    try {
      // start
      const started = await runCli(
        [
          "start",
          "--backend",
          "dockerlike",
          "--image",
          TEST_IMAGE,
          "--name",
          label,
          "--",
          "sleep",
          "3600",
        ],
        env,
      );
      equal(started.code, 0, started.stderr);
      const slug = started.stdout.trim();
      equal(slug, label);
      match(
        started.stderr,
        new RegExp(`to get a shell in it: dockerlike exec -it ${container} sh\n`),
      );
      const metadata = JSON.parse(
        await Deno.readTextFile(join(home.stateDir(slug), "metadata.json")),
      );
      equal(metadata.backend, "dockerlike");
      equal(await docker("inspect", "--format", "{{.State.Status}}", container), "running");
      await docker("exec", container, "sh", "-c", "echo inside > /marker");

      // commit
      const committed = await runCli(["commit", slug], env);
      equal(committed.code, 0, committed.stderr);
      match(
        committed.stderr,
        new RegExp(
          `to export for migration: dockerlike save -o ${slug}\\.tar bot-bottle-committed-${slug}:latest\n`,
        ),
      );

      // destroy --keep-snapshot
      const kept = await runCli(["destroy", slug, "--keep-snapshot", "--yes"], env);
      equal(kept.code, 0, kept.stderr);
      equal(await docker("ps", "-aq", "--filter", `name=^${container}$`), "");

      // resume: the bottle's state is read through "no container with name or ID"
      const resumed = await runCli(["resume", slug], env);
      equal(resumed.code, 0, resumed.stderr);
      equal(await docker("exec", container, "cat", "/marker"), "inside");

      // ls
      const listed = JSON.parse((await runCli(["ls", "--json"], env)).stdout);
      equal(listed.length, 1);
      equal(listed[0].slug, slug);
      equal(listed[0].backend, "dockerlike");
      equal(listed[0].state, "running");
      equal(listed[0].snapshot.artifact, `bot-bottle-committed-${slug}:latest`);
      equal(listed[0].snapshot.exists, true);

      // a missing container is reported as such, in the engine's name
      await docker("rm", "--force", container);
      const orphan = await runCli(["commit", slug], env);
      equal(orphan.code, 1);
      match(
        orphan.stderr,
        new RegExp(
          `bottle "${slug}" has no container "${container}" on Dockerlike; it has stopped and ` +
            `been removed, or was started elsewhere; see "dockerlike ps -a"`,
        ),
      );

      // a missing image is reported as such
      await removeBottleObjects(slug);
      const gone = await runCli(["resume", slug], env);
      equal(gone.code, 1);
      match(
        gone.stderr,
        new RegExp(`bot-bottle-committed-${slug}:\\S+, no longer exists on dockerlike;`),
      );

      // destroy: removing images already gone is fine
      const destroyed = await runCli(["destroy", slug, "--yes"], env);
      equal(destroyed.code, 0, destroyed.stderr);
      deepStrictEqual(await snapshotTree(join(home.root, "state")), {});
      ok(!(await docker("images", "-q", `bot-bottle-committed-${slug}`)));
    } finally {
      await removeBottleObjects(label);
    }
  },
);
