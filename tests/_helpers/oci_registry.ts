// A real OCI registry for the push/pull tests: Debian's `docker-registry`
// (the CNCF Distribution registry, `apt-get install docker-registry`; `.ci/run`
// installs it) started from a config file written into a temporary
// directory, with filesystem storage there, and removed with everything it
// made when disposed.
//
// Three modes:
// - `plain`: HTTP on 127.0.0.1. The Docker daemon treats 127.0.0.0/8 as an
//   insecure registry by default ("Insecure Registries: 127.0.0.0/8" in
//   `docker info`), so it speaks plain HTTP to it.
// - `auth`: the same, with htpasswd basic auth (a user and password made up
//   here, bcrypt-hashed by `htpasswd -B` from apache2-utils).
// - `tls`: HTTPS with a server certificate from a CA made here (openssl),
//   trusted by Docker through `/etc/docker/certs.d/<host:port>/ca.crt`
//   (read on every pull/push, no daemon restart). It listens on the Docker
//   bridge's gateway address (172.17.0.1 on a default engine), not on
//   127.0.0.1: because the daemon treats loopback as insecure, it would pull
//   from a loopback registry with any certificate, so an untrusted CA could
//   never be refused there.
//
// What Docker prints (engine 20.10.24, CLI 28.2.2; the push/pull commands map
// these to their own messages). `<host>` is `127.0.0.1:<port>` or
// `172.17.0.1:<port>`. `docker push` prints them on stderr without the
// "Error response from daemon: " prefix that `docker pull` has:
//
// - registry stopped, push:
//   `Get "http://<host>/v2/": dial tcp <host>: connect: connection refused`
// - registry stopped, pull:
//   `Error response from daemon: Get "http://<host>/v2/": dial tcp <host>: connect: connection refused`
// - no login (auth), push: `no basic auth credentials`
// - no login (auth), pull:
//   `Error response from daemon: Head "http://<host>/v2/<repo>/manifests/<tag>": no basic auth credentials`
// - wrong password (auth), `docker login`:
//   `Error response from daemon: login attempt to http://<host>/v2/ failed with status: 401 Unauthorized`
// - CA not trusted (tls), push (*):
//   `Get "https://<host>/v2/": x509: certificate signed by unknown authority`
// - CA not trusted (tls), pull (*):
//   `Error response from daemon: Get "https://<host>/v2/": x509: certificate signed by unknown authority`
// - unknown tag (deleted tag or manifest), pull:
//   `Error response from daemon: manifest for <host>/<repo>:<tag> not found: manifest unknown: manifest unknown`
// - tampered layer blob, pull (nothing is tagged locally):
//   `filesystem layer verification failed for digest sha256:<hex>`
//
// (*) Engines built with Go 1.20 or later put "tls: failed to verify
// certificate: " before "x509: …": match on "x509: certificate signed by
// unknown authority".
//
// Each line is held true by tests/_helpers/oci_registry_test.ts.

import { $ } from "dax";
import { docker, dockerTest } from "./docker.ts";
import { reducedEnv } from "./env.ts";

/** How the registry is reached: plain HTTP, HTTP with basic auth, or HTTPS from a test CA. */
export type RegistryMode = "plain" | "auth" | "tls";

/** Where the Docker daemon looks for a registry's CA: `<dir>/<host:port>/ca.crt`. */
export const DOCKER_CERTS_D = "/etc/docker/certs.d";

/** The media types a manifest is asked for in (Docker's, then OCI's). */
const MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
].join(", ");

/** A manifest as the registry stores it. */
export interface StoredManifest {
  /** Its digest (`sha256:…`), as the registry names it. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** The parsed JSON. */
  json: {
    config?: { digest: string };
    layers?: { digest: string; size: number; mediaType: string }[];
    [key: string]: unknown;
  };
}

/** A running test registry. */
export interface OciRegistry extends AsyncDisposable {
  mode: RegistryMode;
  /** `<address>:<port>`, what image references start with. */
  host: string;
  /** `http://<host>` or `https://<host>`. */
  url: string;
  /** The user and password (mode `auth`). */
  credentials?: { user: string; password: string };
  /** The CA certificate's path (mode `tls`). */
  caFile?: string;
  /** The temporary directory holding config, storage, certificates and logs. */
  dir: string;
  /** `<host>/<repository>:<tag>`. */
  ref(repository: string, tag: string): string;
  /** Stops the registry (it refuses connections until {@linkcode start}). */
  stop(): Promise<void>;
  /** Starts it again on the same address, with the same storage. */
  start(): Promise<void>;
  /** Whether it is running. */
  running(): boolean;
  /** Mode `tls`: writes the CA to Docker's certs.d (done by default on start). */
  trust(): Promise<void>;
  /** Mode `tls`: removes the CA from Docker's certs.d. */
  distrust(): Promise<void>;
  /** The manifest `reference` (tag or digest) names, through the registry's API. */
  manifest(repository: string, reference: string): Promise<StoredManifest>;
  /** Deletes the manifest `reference` names (and so every tag on it), through the API. */
  deleteManifest(repository: string, reference: string): Promise<void>;
  /** Deletes one tag, leaving the manifest and other tags (on disk; the API cannot). */
  deleteTag(repository: string, tag: string): Promise<void>;
  /** Overwrites the first bytes of a stored blob (its digest no longer matches). */
  tamperBlob(digest: string): Promise<void>;
}

/** Options for {@linkcode ociRegistry}. */
export interface OciRegistryOptions {
  /** Mode `tls`: write the CA to Docker's certs.d at start (default true). */
  trusted?: boolean;
}

/** Why the registry tests cannot run here, or `undefined` when they can. */
async function whyNoRegistry(): Promise<string | undefined> {
  const tools = [
    ["docker-registry", "docker-registry"],
    ["htpasswd", "apache2-utils"],
    ["openssl", "openssl"],
  ];
  for (const [command, pkg] of tools) {
    if (!(await $.commandExists(command!))) {
      return `${command} is not installed (apt-get install ${pkg})`;
    }
  }
  return undefined;
}

/** Why the registry tests cannot run here, or `undefined` when they can. */
export const noRegistryReason: string | undefined = await whyNoRegistry();

/** Why a `tls` registry cannot be trusted here (Docker's certs.d is root's). */
export const noCertsDReason: string | undefined = Deno.uid() === 0
  ? undefined
  : `trusting a test CA writes ${DOCKER_CERTS_D}, which needs root`;

/**
 * Declares a test that needs the Docker engine and a test registry (with
 * `tls`, one Docker trusts): {@linkcode dockerTest}'s rule, ignored with the
 * reason where they are missing, failed in CI (BOT_BOTTLE_REQUIRE_DOCKER=1).
 */
export function registryTest(
  name: string,
  fn: () => Promise<void>,
  options: { slow?: boolean; tls?: boolean } = {},
): void {
  const missing = noRegistryReason ?? (options.tls ? noCertsDReason : undefined);
  dockerTest(name, fn, { ...(options.slow ? { slow: true } : {}), missing });
}

/**
 * Starts a registry in `mode` on a free port, waits until it answers, and
 * returns it; disposing it stops it, removes its directory, its CA from
 * Docker's certs.d and every local image tag under its host.
 */
export async function ociRegistry(
  mode: RegistryMode,
  options: OciRegistryOptions = {},
): Promise<OciRegistry> {
  if (noRegistryReason) throw new Error(`cannot start a test registry: ${noRegistryReason}`);
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-registry-" });
  const cleanups: (() => Promise<void>)[] = [() => Deno.remove(dir, { recursive: true })];
  let child: ReturnType<ReturnType<typeof $>["spawn"]> | undefined;
  let exited: Promise<unknown> | undefined;
  let starts = 0;

  async function stop(): Promise<void> {
    if (!child) return;
    child.kill("SIGTERM");
    await exited;
    child = undefined;
  }

  const dispose = async () => {
    await stop();
    const errors: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleaning up the test registry failed");
  };

  try {
    const address = mode === "tls" ? await bridgeAddress() : "127.0.0.1";
    const port = freePort(address);
    const host = `${address}:${port}`;
    const scheme = mode === "tls" ? "https" : "http";
    const url = `${scheme}://${host}`;
    const storage = `${dir}/storage`;
    const config: string[] = [
      "version: 0.1",
      "log:",
      "  level: info",
      "  formatter: text",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${JSON.stringify(storage)}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: ${JSON.stringify(host)}`,
      `  secret: ${JSON.stringify(crypto.randomUUID())}`,
    ];
    let credentials: { user: string; password: string } | undefined;
    if (mode === "auth") {
      credentials = {
        user: `bb-${crypto.randomUUID().slice(0, 8)}`,
        password: crypto.randomUUID(),
      };
      const htpasswd = `${dir}/htpasswd`;
      await $`htpasswd -c -i -B ${htpasswd} ${credentials.user}`
        .stdinText(credentials.password).quiet();
      config.push(
        "auth:",
        "  htpasswd:",
        "    realm: bot-bottle-test",
        `    path: ${JSON.stringify(htpasswd)}`,
      );
    }
    let caFile: string | undefined;
    let ca: string | undefined;
    if (mode === "tls") {
      const tls = await makeCertificates(dir, address);
      caFile = tls.caFile;
      ca = await Deno.readTextFile(caFile);
      config.push(
        "  tls:",
        `    certificate: ${JSON.stringify(tls.certFile)}`,
        `    key: ${JSON.stringify(tls.keyFile)}`,
      );
    }
    const configFile = `${dir}/config.yml`;
    await Deno.writeTextFile(configFile, config.join("\n") + "\n");

    const client = ca ? Deno.createHttpClient({ caCerts: [ca] }) : undefined;
    cleanups.push(() => {
      client?.close();
      return Promise.resolve();
    });
    const authorization: Record<string, string> = credentials
      ? { Authorization: `Basic ${btoa(`${credentials.user}:${credentials.password}`)}` }
      : {};
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        headers: { ...authorization, ...(init.headers ?? {}) },
        ...(client ? { client } : {}),
      });

    const start = async () => {
      if (child) return;
      starts += 1;
      const log = `${dir}/registry-${starts}.log`;
      // A cleared environment: REGISTRY_* variables would override the config.
      child = $`docker-registry serve ${configFile}`
        .env(reducedEnv({ PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" }))
        .clearEnv()
        .stdin("null")
        .stdout("null")
        .stderr($.path(log))
        .noThrow()
        .spawn();
      exited = child.then(() => {}, () => {});
      let gone = false;
      exited.then(() => gone = true);
      for (let attempt = 0; attempt < 200; attempt++) {
        if (gone) break;
        try {
          const response = await api("/v2/");
          await response.body?.cancel();
          if (response.status === 200 || response.status === 401) return;
        } catch {
          // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await stop();
      const text = await Deno.readTextFile(log).catch(() => "");
      throw new Error(
        `the test registry did not answer on ${url}; its log:\n${
          text.split("\n").slice(-10).join("\n")
        }`,
      );
    };

    const certsDir = `${DOCKER_CERTS_D}/${host}`;
    // The directories trust() made (certs.d itself too on a fresh machine), deepest last.
    let made: string[] = [];
    const trust = async () => {
      if (!caFile) throw new Error(`registry ${host} is not a tls registry`);
      made = [...made, ...(await makeDirectories(certsDir))];
      await Deno.copyFile(caFile, `${certsDir}/ca.crt`);
    };
    const distrust = async () => {
      await removeIfThere(`${certsDir}/ca.crt`);
      for (const directory of made.reverse()) await removeIfEmpty(directory);
      made = [];
    };
    cleanups.push(distrust);
    // Every local tag under this host (pushed or pulled by the test).
    cleanups.push(async () => {
      const tags = await docker("images", "--format", "{{.Repository}}:{{.Tag}}");
      for (const tag of tags.split("\n").filter((line) => line.startsWith(`${host}/`))) {
        await $`docker image rm ${tag.endsWith(":<none>") ? tag.slice(0, -7) : tag}`
          .quiet().noThrow();
      }
      const digests = await docker(
        "images",
        "--digests",
        "--format",
        "{{.Repository}}@{{.Digest}}",
      );
      for (const ref of digests.split("\n").filter((line) => line.startsWith(`${host}/`))) {
        if (!ref.endsWith("@<none>")) await $`docker image rm ${ref}`.quiet().noThrow();
      }
    });

    const manifest = async (repository: string, reference: string): Promise<StoredManifest> => {
      const response = await api(`/v2/${repository}/manifests/${reference}`, {
        headers: { Accept: MANIFEST_TYPES },
      });
      if (!response.ok) {
        const body = await response.text();
        throw new Error(
          `manifest ${repository}:${reference} on ${host}: ${response.status} ${body}`,
        );
      }
      return {
        digest: response.headers.get("Docker-Content-Digest") ?? "",
        mediaType: response.headers.get("Content-Type") ?? "",
        json: await response.json(),
      };
    };

    const repositoryDir = (repository: string) =>
      `${storage}/docker/registry/v2/repositories/${repository}`;

    const registry: OciRegistry = {
      mode,
      host,
      url,
      ...(credentials ? { credentials } : {}),
      ...(caFile ? { caFile } : {}),
      dir,
      ref: (repository, tag) => `${host}/${repository}:${tag}`,
      stop,
      start,
      running: () => child !== undefined,
      trust,
      distrust,
      manifest,
      async deleteManifest(repository, reference) {
        const digest = reference.startsWith("sha256:")
          ? reference
          : (await manifest(repository, reference)).digest;
        const response = await api(`/v2/${repository}/manifests/${digest}`, { method: "DELETE" });
        await response.body?.cancel();
        if (response.status !== 202) {
          throw new Error(`deleting ${repository}@${digest} on ${host}: ${response.status}`);
        }
      },
      async deleteTag(repository, tag) {
        await Deno.remove(`${repositoryDir(repository)}/_manifests/tags/${tag}`, {
          recursive: true,
        });
      },
      async tamperBlob(digest) {
        const hex = digest.replace(/^sha256:/, "");
        const path = `${storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
        const file = await Deno.open(path, { write: true });
        try {
          await file.write(new TextEncoder().encode("tampered by the test"));
        } finally {
          file.close();
        }
      },
      [Symbol.asyncDispose]: dispose,
    };
    if (mode === "tls" && options.trusted !== false) await trust();
    await start();
    return registry;
  } catch (error) {
    await dispose().catch(() => {});
    throw error;
  }
}

/** A port nobody listens on at `address` now. */
function freePort(address: string): number {
  const listener = Deno.listen({ hostname: address, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * A local address that is not loopback and that the Docker daemon reaches:
 * the default bridge's own address (docker0's, 172.17.0.1 on a default engine).
 */
async function bridgeAddress(): Promise<string> {
  const inspected = await docker(
    "network",
    "inspect",
    "bridge",
    "--format",
    `{{index .Options "com.docker.network.bridge.name"}} {{range .IPAM.Config}}{{.Gateway}} {{end}}`,
  );
  const [name = "", ...gateways] = inspected.split(/\s+/).filter(Boolean);
  const interfaces = Deno.networkInterfaces().filter((entry) => entry.family === "IPv4");
  const address = interfaces.find((entry) => gateways.includes(entry.address))?.address ??
    interfaces.find((entry) => entry.name === name)?.address;
  if (!address) {
    throw new Error(
      `cannot find the address of Docker's bridge ("${name}", gateway ${
        gateways.join(", ") || "none"
      }) on this machine; the tls registry needs a non-loopback address the daemon reaches`,
    );
  }
  return address;
}

/** Makes `path` and its missing parents; returns the ones it made, outermost first. */
async function makeDirectories(path: string): Promise<string[]> {
  const made: string[] = [];
  let current = path;
  while (!(await exists(current))) {
    made.unshift(current);
    current = current.slice(0, current.lastIndexOf("/")) || "/";
  }
  for (const directory of made) await Deno.mkdir(directory);
  return made;
}

async function removeIfThere(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Removes an empty directory; one another test still uses (not empty) stays. */
async function removeIfEmpty(path: string): Promise<void> {
  if (!(await exists(path))) return;
  for await (const _ of Deno.readDir(path)) return;
  await removeIfThere(path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Makes a CA and a server certificate for `address` (an IP) in `dir`. */
async function makeCertificates(
  dir: string,
  address: string,
): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caFile = `${dir}/ca.crt`;
  const caKey = `${dir}/ca.key`;
  const keyFile = `${dir}/server.key`;
  const csr = `${dir}/server.csr`;
  const certFile = `${dir}/server.crt`;
  const extensions = `${dir}/server.ext`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await $`openssl req -x509 ${ec} -keyout ${caKey} -out ${caFile} -days 2 -subj ${"/CN=bot-bottle test CA"}`
    .quiet();
  await $`openssl req ${ec} -keyout ${keyFile} -out ${csr} -subj ${`/CN=${address}`}`.quiet();
  await Deno.writeTextFile(
    extensions,
    `subjectAltName = IP:${address}\nextendedKeyUsage = serverAuth\n`,
  );
  await $`openssl x509 -req -in ${csr} -CA ${caFile} -CAkey ${caKey} -CAcreateserial -out ${certFile} -days 2 -extfile ${extensions}`
    .quiet();
  return { caFile, certFile, keyFile };
}

/** A Docker CLI with its own, temporary config directory (logins go there). */
export interface DockerClient extends AsyncDisposable {
  /** The temporary DOCKER_CONFIG directory. */
  configDir: string;
  /** The environment the CLI runs with (PATH, HOME and DOCKER_CONFIG only, plus the network's). */
  env: Record<string, string>;
  /** Runs `docker <args>` (stdin: `stdin`), returning its exit code and output. */
  run(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * A Docker CLI whose config (and so every `docker login`) lives in a
 * temporary directory, never in the user's ~/.docker; removed when disposed.
 */
export async function dockerClient(): Promise<DockerClient> {
  const configDir = await Deno.makeTempDir({ prefix: "bot-bottle-docker-config-" });
  const env = reducedEnv({
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: configDir,
    DOCKER_CONFIG: configDir,
    ...(Deno.env.get("DOCKER_HOST") ? { DOCKER_HOST: Deno.env.get("DOCKER_HOST")! } : {}),
  });
  return {
    configDir,
    env,
    async run(args, stdin) {
      const command = $`docker ${args}`.env(env).clearEnv().stdout("piped").stderr("piped")
        .noThrow();
      const result = await (stdin === undefined ? command.stdin("null") : command.stdinText(stdin));
      return { code: result.code, stdout: result.stdout, stderr: result.stderr };
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(configDir, { recursive: true });
    },
  };
}
