// The registry harness, proved with the real Docker engine: images go in and
// come back in every mode, and every fault the push/pull tests inject shows
// as the error Docker really prints (the table in oci_registry.ts).

import { equal, match, ok } from "node:assert/strict";
import { docker, TEST_IMAGE, testSlug } from "./docker.ts";
import {
  DOCKER_CERTS_D,
  dockerClient,
  type OciRegistry,
  ociRegistry,
  registryTest,
} from "./oci_registry.ts";

/**
 * Commits a container of the test image holding /marker (a unique text) as
 * `ref`: an image with a layer no other image has, so a pull must download
 * it. Returns the marker.
 */
async function uniqueImage(ref: string): Promise<string> {
  const marker = crypto.randomUUID();
  const container = `bot-bottle-${testSlug("reg")}`;
  await docker("run", "--name", container, TEST_IMAGE, "sh", "-c", `echo ${marker} > /marker`);
  try {
    await docker("commit", container, ref);
  } finally {
    await docker("rm", "-f", container);
  }
  return marker;
}

/** Reads /marker from `ref` in a throwaway container. */
async function readMarker(ref: string): Promise<string> {
  return await docker("run", "--rm", ref, "cat", "/marker");
}

/** Pushes a unique image to `registry`, removes it locally; returns its ref and marker. */
async function pushedImage(
  registry: OciRegistry,
  client: Awaited<ReturnType<typeof dockerClient>>,
): Promise<{ ref: string; marker: string }> {
  const ref = registry.ref(`team/${testSlug("img")}`, "v1");
  const marker = await uniqueImage(ref);
  const push = await client.run(["push", ref]);
  equal(push.code, 0, push.stderr);
  await docker("image", "rm", ref);
  return { ref, marker };
}

/** Asserts that `text` contains `part`, showing `text` otherwise. */
function includes(
  text: string,
  part: string,
  message = `expected ${JSON.stringify(part)} in:\n${text}`,
): void {
  ok(text.includes(part), message);
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}

registryTest(
  "oci registry (plain): an image pushed over HTTP on loopback pulls back the same",
  async () => {
    await using registry = await ociRegistry("plain");
    await using client = await dockerClient();
    match(registry.host, /^127\.0\.0\.1:\d+$/);
    const { ref, marker } = await pushedImage(registry, client);
    const stored = await registry.manifest(ref.split("/").slice(1).join("/").split(":")[0]!, "v1");
    match(stored.digest, /^sha256:[0-9a-f]{64}$/);

    const pull = await client.run(["pull", ref]);
    equal(pull.code, 0, pull.stderr);
    includes(pull.stdout, stored.digest);
    equal(await readMarker(ref), marker);
  },
);

registryTest(
  "oci registry (plain): a stopped registry refuses connections, and serves again once started",
  async () => {
    await using registry = await ociRegistry("plain");
    await using client = await dockerClient();
    const { ref, marker } = await pushedImage(registry, client);
    await registry.stop();
    ok(!registry.running());

    const pull = await client.run(["pull", ref]);
    equal(pull.code, 1);
    equal(
      lastLine(pull.stderr),
      `Error response from daemon: Get "http://${registry.host}/v2/": dial tcp ${registry.host}: connect: connection refused`,
    );
    await uniqueImage(ref);
    const push = await client.run(["push", ref]);
    equal(push.code, 1);
    equal(
      lastLine(push.stderr),
      `Get "http://${registry.host}/v2/": dial tcp ${registry.host}: connect: connection refused`,
    );
    await docker("image", "rm", ref);

    await registry.start();
    equal((await client.run(["pull", ref])).code, 0);
    equal(await readMarker(ref), marker);
  },
);

registryTest("oci registry (plain): a deleted tag or manifest is unknown to a pull", async () => {
  await using registry = await ociRegistry("plain");
  await using client = await dockerClient();
  const { ref } = await pushedImage(registry, client);
  const repository = ref.slice(registry.host.length + 1, ref.lastIndexOf(":"));
  const { digest } = await registry.manifest(repository, "v1");
  // A second tag on the same manifest survives deleting the first.
  await uniqueImage(registry.ref(repository, "v2"));
  equal((await client.run(["push", registry.ref(repository, "v2")])).code, 0);

  await registry.deleteTag(repository, "v2");
  const gone = await client.run(["pull", registry.ref(repository, "v2")]);
  equal(gone.code, 1);
  equal(
    lastLine(gone.stderr),
    `Error response from daemon: manifest for ${registry.host}/${repository}:v2 not found: manifest unknown: manifest unknown`,
  );
  equal((await registry.manifest(repository, "v1")).digest, digest);

  await registry.deleteManifest(repository, "v1");
  const deleted = await client.run(["pull", ref]);
  equal(deleted.code, 1);
  includes(deleted.stderr, "manifest unknown");
  const byDigest = await client.run(["pull", `${registry.host}/${repository}@${digest}`]);
  equal(byDigest.code, 1);
  includes(byDigest.stderr, "manifest unknown");
});

registryTest(
  "oci registry (plain): a tampered layer blob fails Docker's verification on pull",
  async () => {
    await using registry = await ociRegistry("plain");
    await using client = await dockerClient();
    const { ref } = await pushedImage(registry, client);
    const repository = ref.slice(registry.host.length + 1, ref.lastIndexOf(":"));
    const { json } = await registry.manifest(repository, "v1");
    const layer = json.layers?.at(-1)?.digest;
    ok(layer, "the manifest lists layers");
    await registry.tamperBlob(layer);

    const pull = await client.run(["pull", ref]);
    equal(pull.code, 1);
    equal(lastLine(pull.stderr), `filesystem layer verification failed for digest ${layer}`);
    const images = await docker("images", "-q", ref);
    equal(images, "", "nothing is tagged locally after a failed pull");
  },
);

registryTest(
  "oci registry (auth): no login is refused, a wrong password too, and docker login lets the image through",
  async () => {
    await using registry = await ociRegistry("auth");
    await using client = await dockerClient();
    const credentials = registry.credentials!;
    const ref = registry.ref(`team/${testSlug("img")}`, "v1");
    const marker = await uniqueImage(ref);

    const anonymous = await client.run(["push", ref]);
    equal(anonymous.code, 1);
    equal(lastLine(anonymous.stderr), "no basic auth credentials");
    const anonymousPull = await client.run(["pull", ref]);
    equal(anonymousPull.code, 1);
    equal(
      lastLine(anonymousPull.stderr),
      `Error response from daemon: Head "http://${registry.host}/v2/${
        ref.slice(registry.host.length + 1, ref.lastIndexOf(":"))
      }/manifests/v1": no basic auth credentials`,
    );

    const wrong = await client.run(
      ["login", "--username", credentials.user, "--password-stdin", registry.host],
      "not-the-password",
    );
    equal(wrong.code, 1);
    equal(
      lastLine(wrong.stderr),
      `Error response from daemon: login attempt to http://${registry.host}/v2/ failed with status: 401 Unauthorized`,
    );

    const login = await client.run(
      ["login", "--username", credentials.user, "--password-stdin", registry.host],
      credentials.password,
    );
    equal(login.code, 0, login.stderr);
    const stored = await Deno.readTextFile(`${client.configDir}/config.json`);
    includes(stored, registry.host, "the login went to the temporary DOCKER_CONFIG");

    const push = await client.run(["push", ref]);
    equal(push.code, 0, push.stderr);
    await docker("image", "rm", ref);
    const pull = await client.run(["pull", ref]);
    equal(pull.code, 0, pull.stderr);
    equal(await readMarker(ref), marker);
  },
);

registryTest(
  "oci registry (tls): an untrusted CA is refused, and trusted through certs.d the image goes through",
  async () => {
    await using registry = await ociRegistry("tls", { trusted: false });
    await using client = await dockerClient();
    ok(!registry.host.startsWith("127."), "not loopback, which Docker treats as insecure");
    equal(registry.url, `https://${registry.host}`);
    const ref = registry.ref(`team/${testSlug("img")}`, "v1");
    const marker = await uniqueImage(ref);

    const untrusted = await client.run(["push", ref]);
    equal(untrusted.code, 1);
    // Engines built with Go 1.20 or later add "tls: failed to verify certificate: ".
    const host = registry.host.replaceAll(".", "\\.");
    const unknownAuthority =
      "(tls: failed to verify certificate: )?x509: certificate signed by unknown authority";
    match(
      lastLine(untrusted.stderr),
      new RegExp(`^Get "https://${host}/v2/": ${unknownAuthority}$`),
    );
    const untrustedPull = await client.run(["pull", ref]);
    equal(untrustedPull.code, 1);
    match(
      lastLine(untrustedPull.stderr),
      new RegExp(`^Error response from daemon: Get "https://${host}/v2/": ${unknownAuthority}$`),
    );

    await registry.trust();
    equal(
      await Deno.readTextFile(`${DOCKER_CERTS_D}/${registry.host}/ca.crt`),
      await Deno.readTextFile(registry.caFile!),
    );
    const push = await client.run(["push", ref]);
    equal(push.code, 0, push.stderr);
    await docker("image", "rm", ref);
    const pull = await client.run(["pull", ref]);
    equal(pull.code, 0, pull.stderr);
    equal(await readMarker(ref), marker);

    await registry.distrust();
    const again = await client.run(["pull", ref]);
    equal(again.code, 1);
    includes(again.stderr, "x509: certificate signed by unknown authority");
  },
  { tls: true },
);

registryTest(
  "oci registry: disposing leaves nothing behind (process, files, certs.d, local tags)",
  async () => {
    let host = "";
    let dir = "";
    const certsDExisted = await Deno.lstat(DOCKER_CERTS_D).then(() => true, () => false);
    {
      await using registry = await ociRegistry("tls");
      await using client = await dockerClient();
      host = registry.host;
      dir = registry.dir;
      const ref = registry.ref("team/left", "v1");
      await uniqueImage(ref);
      equal((await client.run(["push", ref])).code, 0);
      ok(await Deno.lstat(`${DOCKER_CERTS_D}/${host}/ca.crt`).then(() => true));
    }
    await assertGone(dir);
    await assertGone(`${DOCKER_CERTS_D}/${host}`);
    if (!certsDExisted) await assertGone(DOCKER_CERTS_D);
    equal(await docker("images", "-q", `${host}/team/left`), "");
    const [address, port] = host.split(":");
    const refused = await Deno.connect({ hostname: address!, port: Number(port) }).then(
      (connection) => {
        connection.close();
        return false;
      },
      (error) => error instanceof Deno.errors.ConnectionRefused,
    );
    ok(refused, `nothing listens on ${host} any more`);
  },
  { tls: true },
);

async function assertGone(path: string): Promise<void> {
  const error = await Deno.lstat(path).then(() => undefined, (error) => error);
  ok(error instanceof Deno.errors.NotFound, `${path} is left behind`);
}
