// bot-bottle push and pull through a real OCI registry (Debian's
// docker-registry, started per test by tests/_helpers/oci_registry.ts) on the
// real Docker engine: a bottle frozen here is resumed under another HOME,
// over plain HTTP, with basic auth and with TLS; and every failure at the
// registry is one clear line with nothing half-written here.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { $ } from "dax";
import { runCli } from "./_helpers/cli.ts";
import { docker, removeBottleObjects, TEST_IMAGE, testSlug } from "./_helpers/docker.ts";
import {
  type DockerClient,
  dockerClient,
  type OciRegistry,
  ociRegistry,
  registryTest,
} from "./_helpers/oci_registry.ts";
import { snapshotTree, type TempHome, tempHome } from "./_helpers/temp_home.ts";

/** Whether the local engine has an image or tag `ref`. */
async function hasImage(ref: string): Promise<boolean> {
  return (await $`docker image inspect ${ref}`.quiet().noThrow()).code === 0;
}

/** Every local image name (`repository:tag`) under the registry's host. */
async function localNamesUnder(host: string): Promise<string[]> {
  const names = await docker("images", "--format", "{{.Repository}}:{{.Tag}}");
  return names.split("\n").filter((name) => name.startsWith(`${host}/`));
}

/** The environment of a CLI run: a HOME and the client's Docker config (its logins). */
function envOf(home: TempHome, client: DockerClient): Record<string, string> {
  return { ...home.env, DOCKER_CONFIG: client.configDir };
}

/**
 * Starts a bottle with a bind mount, writes /marker and a file in the mount,
 * commits it; then writes /marker again and commits again. Returns its slug
 * and the mounted directory.
 */
async function twiceCommitted(
  home: TempHome,
  env: Record<string, string>,
): Promise<{ slug: string; shared: string }> {
  const shared = join(home.home, "shared");
  await Deno.mkdir(shared);
  const started = await runCli([
    "start",
    "--image",
    TEST_IMAGE,
    "--name",
    testSlug("push"),
    "--volume",
    `${shared}:/mnt/shared`,
    "--",
    "sleep",
    "3600",
  ], env);
  equal(started.code, 0, started.stderr);
  const slug = started.stdout.trim();
  const container = `bot-bottle-${slug}`;
  await docker("exec", container, "sh", "-c", "echo first > /marker; echo mounted > /mnt/shared/f");
  const first = await runCli(["commit", slug], env);
  equal(first.code, 0, first.stderr);
  // Two commits within a second get ids -2: wait for the next second for readable ids.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await docker("exec", container, "sh", "-c", "echo second > /marker");
  const second = await runCli(["commit", slug], env);
  equal(second.code, 0, second.stderr);
  return { slug, shared };
}

/** Pulls `ref` as `name` under `home` and resumes it; returns /marker and the mounted file. */
async function pullAndResume(
  ref: string,
  name: string,
  home: TempHome,
  env: Record<string, string>,
): Promise<{ marker: string; mounted: string }> {
  const pulled = await runCli(["pull", ref, "--name", name, "--allow-host-access"], env);
  equal(pulled.code, 0, pulled.stderr);
  match(pulled.stderr, new RegExp(`to resume it: bot-bottle resume ${name}\n`));
  ok(await Deno.stat(join(home.stateDir(name), "metadata.json")));
  const resumed = await runCli(["resume", name], env);
  equal(resumed.code, 0, resumed.stderr);
  const container = `bot-bottle-${name}`;
  return {
    marker: await docker("exec", container, "cat", "/marker"),
    mounted: await docker("exec", container, "cat", "/mnt/shared/f"),
  };
}

/** The round trip of the issue, against `registry` (logged in through `client`). */
async function roundTrip(registry: OciRegistry, client: DockerClient): Promise<void> {
  await using home = await tempHome();
  await using there = await tempHome();
  const env = envOf(home, client);
  const otherEnv = envOf(there, client);
  const names: string[] = [];
  try {
    const { slug } = await twiceCommitted(home, env);
    names.push(slug);
    const repository = `team/${slug}`;
    const ref = registry.ref(repository, "v1");

    const pushed = await runCli(["push", slug, ref], env);
    equal(pushed.code, 0, pushed.stderr);
    const stored = await registry.manifest(repository, "v1");
    equal(pushed.stdout, `${ref}@${stored.digest}\n`);
    match(pushed.stderr, new RegExp(`to pull it on another machine: bot-bottle pull ${ref}\n`));
    // The state beside it, as a standard one-layer image.
    equal((await registry.manifest(repository, "v1.bottle")).json.layers?.length, 1);
    // Nothing new is left here: the names it pushed through are gone again.
    deepStrictEqual(await localNamesUnder(registry.host), []);

    // `--at ~1` without a tag: the older snapshot, tagged with its id.
    const history = JSON.parse((await runCli(["snapshots", slug, "--json"], env)).stdout);
    const [newest, older] = history;
    deepStrictEqual(
      newest.pushes.map((push: { ref: string; digest: string }) => [push.ref, push.digest]),
      [[ref, stored.digest]],
    );
    equal(older.pushes, undefined);
    const pushedOlder = await runCli(
      ["push", slug, "--at", "~1", registry.ref(repository, "x").replace(/:x$/, ""), "--json"],
      env,
    );
    equal(pushedOlder.code, 0, pushedOlder.stderr);
    const olderResult = JSON.parse(pushedOlder.stdout);
    equal(olderResult.ref, registry.ref(repository, older.id));
    equal(olderResult.snapshotId, older.id);
    equal(olderResult.digest, (await registry.manifest(repository, older.id)).digest);
    const listed = await runCli(["snapshots", slug], env);
    ok(listed.stdout.includes(olderResult.pinned), listed.stdout);

    // Destroy everything here, images included.
    const destroyed = await runCli(["destroy", slug, "--yes"], env);
    equal(destroyed.code, 0, destroyed.stderr);
    equal(await hasImage(`bot-bottle-committed-${slug}:latest`), false);

    const copy = testSlug("pulled");
    names.push(copy);
    deepStrictEqual(await pullAndResume(ref, copy, there, otherEnv), {
      marker: "second",
      mounted: "mounted",
    });
    deepStrictEqual(await localNamesUnder(registry.host), []);
    const pulledHistory = JSON.parse(
      (await runCli(["snapshots", copy, "--json"], otherEnv)).stdout,
    );
    equal(pulledHistory.length, 1);
    equal(pulledHistory[0].id, newest.id);
    equal(pulledHistory[0].parent, newest.parent);
    deepStrictEqual(pulledHistory[0].pushes.map((push: { ref: string }) => push.ref), [ref]);

    const oldCopy = testSlug("older");
    names.push(oldCopy);
    const old = await pullAndResume(olderResult.pinned, oldCopy, there, otherEnv);
    equal(old.marker, "first");
  } finally {
    for (const name of names) await removeBottleObjects(name);
  }
}

registryTest(
  "push → destroy everything → pull --name under another HOME → resume, over plain HTTP",
  async () => {
    await using registry = await ociRegistry("plain");
    await using client = await dockerClient();
    await roundTrip(registry, client);
  },
);

registryTest(
  "the same round trip through a registry with basic auth, after docker login",
  async () => {
    await using registry = await ociRegistry("auth");
    await using client = await dockerClient();
    const { user, password } = registry.credentials!;
    const login = await client.run(
      ["login", "--username", user, "--password-stdin", registry.host],
      password,
    );
    equal(login.code, 0, login.stderr);
    await roundTrip(registry, client);
  },
);

registryTest(
  "the same round trip through a registry with TLS from a CA Docker trusts",
  async () => {
    await using registry = await ociRegistry("tls");
    await using client = await dockerClient();
    await roundTrip(registry, client);
  },
  { tls: true },
);
