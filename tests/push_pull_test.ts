// bot-bottle push and pull through a real OCI registry (Debian's
// docker-registry, started per test by tests/_helpers/oci_registry.ts) on the
// real Docker engine: a bottle frozen here is resumed under another HOME,
// over plain HTTP, with basic auth and with TLS; and every failure at the
// registry is one clear line with nothing half-written here.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { $ } from "dax";
import { interruptWhen, runCli, startCli } from "./_helpers/cli.ts";
import { dockerShim } from "./_helpers/faults.ts";
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

/** A bottle committed once under its own HOME, and pushed to `registry` as `team/<slug>:v1`. */
interface Pushed extends AsyncDisposable {
  slug: string;
  repository: string;
  ref: string;
  home: TempHome;
}

async function pushedBottle(registry: OciRegistry, client: DockerClient): Promise<Pushed> {
  const home = await tempHome();
  const env = envOf(home, client);
  const started = await runCli(
    ["start", "--image", TEST_IMAGE, "--name", testSlug("fault"), "--", "sleep", "3600"],
    env,
  );
  equal(started.code, 0, started.stderr);
  const slug = started.stdout.trim();
  const dispose = async () => {
    await removeBottleObjects(slug);
    await home[Symbol.asyncDispose]();
  };
  try {
    const committed = await runCli(["commit", slug], env);
    equal(committed.code, 0, committed.stderr);
    const repository = `team/${slug}`;
    const ref = registry.ref(repository, "v1");
    const pushed = await runCli(["push", slug, ref], env);
    equal(pushed.code, 0, pushed.stderr);
    return { slug, repository, ref, home, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * Runs the CLI under `home` with a private TMPDIR and asserts that it fails
 * with one line matching `pattern`, and that nothing was left: the state root
 * as it was, no image name under the registry's host or of the slug
 * `leftover` names, nothing in TMPDIR.
 */
async function refused(
  args: string[],
  env: Record<string, string>,
  home: TempHome,
  host: string,
  pattern: RegExp,
  leftover?: string,
): Promise<void> {
  const before = await snapshotTree(home.root);
  const names = await localNamesUnder(host);
  const tmp = await Deno.makeTempDir({ prefix: "bot-bottle-push-tmp-" });
  try {
    const run = await runCli(args, { ...env, TMPDIR: tmp });
    equal(run.code, 1, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
    equal(run.stderr.split("\n").filter(Boolean).length, 1, run.stderr);
    match(run.stderr, pattern);
    deepStrictEqual(await snapshotTree(home.root), before, `${args.join(" ")}: ${run.stderr}`);
    deepStrictEqual(await localNamesUnder(host), names);
    deepStrictEqual(await Array.fromAsync(Deno.readDir(tmp)), []);
    if (leftover) {
      equal(await docker("images", "-q", `bot-bottle-committed-${leftover}`), "");
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/**
 * {@linkcode refused} for both directions: `push` of the pushed bottle, then
 * `pull` of its ref under another HOME (`there`) as a new slug.
 */
async function refusedBoth(
  pushed: Pushed,
  there: TempHome,
  client: DockerClient,
  host: string,
  pattern: RegExp,
): Promise<void> {
  await refused(
    ["push", pushed.slug, pushed.ref],
    envOf(pushed.home, client),
    pushed.home,
    host,
    pattern,
  );
  const name = testSlug("nothing");
  await refused(
    ["pull", pushed.ref, "--name", name],
    envOf(there, client),
    there,
    host,
    pattern,
    name,
  );
}

const ONE_LINE = "^bot-bottle: error: ";

registryTest(
  "push and pull refuse, in one line and with nothing written: a stopped registry, a deleted tag, a plain image, a tampered state layer, a moved tag, another digest",
  async () => {
    await using registry = await ociRegistry("plain");
    await using client = await dockerClient();
    await using pushed = await pushedBottle(registry, client);
    await using there = await tempHome();
    const env = envOf(there, client);
    const here = envOf(pushed.home, client);
    const host = registry.host.replaceAll(".", "\\.");
    const name = testSlug("nothing");
    const pull = (ref: string) => ["pull", ref, "--name", name];

    // The registry stopped.
    await registry.stop();
    const unreachable = new RegExp(
      `${ONE_LINE}cannot reach the registry ${host} \\(.*connection refused\\); check that ` +
        `the registry runs and that this machine reaches ${host}, then try again\n$`,
    );
    await refused(["push", pushed.slug, pushed.ref], here, pushed.home, registry.host, unreachable);
    await refused(pull(pushed.ref), env, there, registry.host, unreachable, name);
    await registry.start();

    // A tag that is not there, nor its state.
    const missing = registry.ref(pushed.repository, "nope");
    await refused(
      pull(missing),
      env,
      there,
      registry.host,
      new RegExp(
        `${ONE_LINE}unknown tag: the registry ${host} has no ${missing.replaceAll(".", "\\.")}; ` +
          `check the reference "bot-bottle push" printed, or push the bottle again; nothing ` +
          `was written\n$`,
      ),
      name,
    );

    // A plain image pushed by docker push.
    const plain = registry.ref(`team/plain-${name}`, "v1");
    await docker("tag", TEST_IMAGE, plain);
    equal((await client.run(["push", plain])).code, 0);
    await docker("image", "rm", plain);
    await refused(
      pull(plain),
      env,
      there,
      registry.host,
      new RegExp(
        `${ONE_LINE}${plain.replaceAll(".", "\\.")} is not a bottle: the registry holds it, ` +
          `but no bottle state beside it .*; pull a reference that "bot-bottle push" printed; ` +
          `nothing was written\n$`,
      ),
      name,
    );

    // The state's layer tampered with in the registry's storage.
    const state = await registry.manifest(pushed.repository, "v1.bottle");
    await registry.tamperBlob(state.json.layers![0]!.digest);
    await refused(
      pull(pushed.ref),
      env,
      there,
      registry.host,
      new RegExp(
        `${ONE_LINE}digest mismatch: what the registry ${host} sent for .*v1\\.bottle does not ` +
          `match its digest \\(.*verification failed.*\\); nothing was written: push the bottle ` +
          `again\n$`,
      ),
      name,
    );

    // Pushed again (the state is whole again); then its tag moved to a plain image.
    const again = await runCli(["push", pushed.slug, pushed.ref], here);
    equal(again.code, 0, again.stderr);
    const pinned = again.stdout.trim();
    await docker("tag", TEST_IMAGE, pushed.ref);
    equal((await client.run(["push", pushed.ref])).code, 0);
    await docker("image", "rm", pushed.ref);
    await refused(
      pull(pushed.ref),
      env,
      there,
      registry.host,
      new RegExp(
        `${ONE_LINE}digest mismatch: .*v1 is sha256:[0-9a-f]{64} in the registry, but the ` +
          `bottle pushed there says its snapshot is sha256:[0-9a-f]{64}; the tag was moved or ` +
          `overwritten since the push: nothing was written; push the bottle again\n$`,
      ),
      name,
    );

    // ref@digest of another push.
    const other = `${pushed.ref}@sha256:${"0".repeat(64)}`;
    const third = await runCli(["push", pushed.slug, pushed.ref], here);
    equal(third.code, 0, third.stderr);
    equal(third.stdout.trim(), pinned);
    await refused(
      pull(other),
      env,
      there,
      registry.host,
      new RegExp(`${ONE_LINE}digest mismatch: you asked for .*@sha256:0{64}, but the bottle`),
      name,
    );

    // The tag deleted, its state left.
    await registry.deleteTag(pushed.repository, "v1");
    await refused(
      pull(pushed.ref),
      env,
      there,
      registry.host,
      new RegExp(
        `${ONE_LINE}unknown tag: the registry ${host} has no .*v1 \\(.*manifest unknown\\); ` +
          `check the reference "bot-bottle push" printed, or push the bottle again\n$`,
      ),
      name,
    );
  },
);

registryTest(
  "push and pull refuse without a login, and with a wrong password, naming docker login",
  async () => {
    await using registry = await ociRegistry("auth");
    await using client = await dockerClient();
    const { user, password } = registry.credentials!;
    const login = await client.run(
      ["login", "--username", user, "--password-stdin", registry.host],
      password,
    );
    equal(login.code, 0, login.stderr);
    await using pushed = await pushedBottle(registry, client);
    await using there = await tempHome();
    await using anonymous = await dockerClient();
    await using wrong = await dockerClient();
    await Deno.writeTextFile(
      join(wrong.configDir, "config.json"),
      JSON.stringify({ auths: { [registry.host]: { auth: btoa(`${user}:not-the-password`) } } }),
    );
    const host = registry.host.replaceAll(".", "\\.");
    for (const client of [anonymous, wrong]) {
      const unauthorized = new RegExp(
        `${ONE_LINE}the registry ${host} refused access to .*\\); run "docker login ${host}" ` +
          `and try again\n$`,
      );
      await refusedBoth(pushed, there, client, registry.host, unauthorized);
    }
  },
);

registryTest(
  "push and pull refuse a registry whose TLS certificate is not trusted, naming certs.d",
  async () => {
    await using registry = await ociRegistry("tls");
    await using client = await dockerClient();
    await using pushed = await pushedBottle(registry, client);
    await using there = await tempHome();
    await registry.distrust();
    const host = registry.host.replaceAll(".", "\\.");
    const untrusted = new RegExp(
      `${ONE_LINE}the registry ${host}'s TLS certificate is not trusted here \\(.*x509: ` +
        `certificate signed by unknown authority\\); trust its CA: copy the CA certificate to ` +
        `/etc/docker/certs\\.d/${host}/ca\\.crt, then try again\n$`,
    );
    await refusedBoth(pushed, there, client, registry.host, untrusted);
  },
  { tls: true },
);

registryTest(
  "pull refuses what import refuses: a slug that exists, without --name or --force; then --force adds the snapshot",
  async () => {
    await using registry = await ociRegistry("plain");
    await using client = await dockerClient();
    await using pushed = await pushedBottle(registry, client);
    const env = envOf(pushed.home, client);
    await refused(
      ["pull", pushed.ref],
      env,
      pushed.home,
      registry.host,
      new RegExp(
        `${ONE_LINE}a bottle "${pushed.slug}" already exists here \\(.*\\); pull it under ` +
          `another name with --name, or add the snapshot to it with --force\n$`,
      ),
    );
    const forced = await runCli(["pull", pushed.ref, "--force", "--json"], env);
    equal(forced.code, 0, forced.stderr);
    const result = JSON.parse(forced.stdout);
    equal(result.slug, pushed.slug);
    match(result.snapshotId, /-2$/);
    const history = JSON.parse((await runCli(["snapshots", pushed.slug, "--json"], env)).stdout);
    equal(history.length, 2);
    equal(history[0].id, result.snapshotId);
    equal(await hasImage(`bot-bottle-committed-${pushed.slug}:${result.snapshotId}`), true);
    deepStrictEqual(await localNamesUnder(registry.host), []);
  },
);

registryTest(
  "SIGINT once a pulled snapshot is tagged, and SIGTERM once a push reached the registry: nothing recorded, nothing left",
  async () => {
    await using registry = await ociRegistry("plain");
    await using client = await dockerClient();
    await using pushed = await pushedBottle(registry, client);
    await using there = await tempHome();
    const name = testSlug("intr");
    {
      await using shim = await dockerShim(["tag"], true);
      await using tmp = await tempDir();
      const run = await interruptWhen(
        startCli(["pull", pushed.ref, "--name", name], {
          ...envOf(there, client),
          ...shim.env,
          TMPDIR: tmp.path,
        }),
        shim.reached,
        "SIGINT",
      );
      equal(run.code, 130, run.stderr);
      match(run.stderr, /bot-bottle: interrupted by SIGINT; nothing was recorded\n$/);
      deepStrictEqual(await snapshotTree(there.root), {});
      equal(await docker("images", "-q", `bot-bottle-committed-${name}`), "");
      deepStrictEqual(await localNamesUnder(registry.host), []);
      deepStrictEqual(await Array.fromAsync(Deno.readDir(tmp.path)), []);
    }
    {
      const before = await snapshotTree(pushed.home.root);
      await using shim = await dockerShim(["push"], true);
      await using tmp = await tempDir();
      const run = await interruptWhen(
        startCli(["push", pushed.slug, registry.ref(pushed.repository, "v2")], {
          ...envOf(pushed.home, client),
          ...shim.env,
          TMPDIR: tmp.path,
        }),
        shim.reached,
        "SIGTERM",
      );
      equal(run.code, 143, run.stderr);
      deepStrictEqual(await snapshotTree(pushed.home.root), before);
      deepStrictEqual(await localNamesUnder(registry.host), []);
      deepStrictEqual(await Array.fromAsync(Deno.readDir(tmp.path)), []);
    }
  },
);

/** A private directory, removed when disposed. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "bot-bottle-push-tmp-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
