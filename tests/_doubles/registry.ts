// The OCI registry the doubles push to and pull from (`smolvm pack push/pull`,
// `container image push/pull`): a directory shared by both doubles' worlds,
// named by BOT_BOTTLE_DOUBLE_REGISTRY (harness.ts sets it to
// `<doubles dir>/registry`). It holds:
//
//   hosts.json                                   which registries exist (RegistryHosts)
//   <host>/<repository>/tags/<tag>               the digest a tag names
//   <host>/<repository>/manifests/<hex>.json     a manifest, by the sha256 of its bytes
//   <host>/<repository>/blobs/<hex>              a blob, by the sha256 of its bytes
//
// Content-addressed as a real registry is: the same content gives the same
// digest, so a pull can verify what it got (a test may tamper with a stored
// manifest or blob to see the mismatch refused). A host missing from
// hosts.json, or one marked unreachable, cannot be reached; one with TLS
// must be asked over https (and fails when `untrusted`); one with `users`
// answers 401 unless the double's world has a login for it.

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { writeWorldFile } from "./world_file.ts";

/** One registry host, e.g. `127.0.0.1:5000`. */
export interface RegistryHost {
  /** Optional: false when it is down (default true). */
  reachable?: boolean;
  /** Optional: it serves HTTPS (default false: plain HTTP, as a loopback test registry). */
  tls?: boolean;
  /**
   * Optional: with `tls`, its certificate is signed by a CA the clients do not
   * trust (default false).
   */
  untrusted?: boolean;
  /** Optional: htpasswd users (name → password); without it anyone may push and pull. */
  users?: Record<string, string>;
}

/** `hosts.json`: the registries that exist. */
export interface RegistryHosts {
  hosts: Record<string, RegistryHost>;
}

/** A login a double's world holds (`docker login`, `container registry login`). */
export interface RegistryLogin {
  username: string;
  password: string;
}

/** The default: one plain-HTTP registry on `127.0.0.1:5000`, no auth. */
export function defaultRegistryHosts(): RegistryHosts {
  return { hosts: { "127.0.0.1:5000": {} } };
}

/** A reference split as registries split it: `host/repository` and a tag or a digest. */
export interface Reference {
  host: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Parses `ref` as the distribution reference grammar does: the first
 * component is a host when it has a `.` or a `:` or is `localhost`, else the
 * host is `docker.io` (and a one-component name gets `library/`); then
 * `:tag` and/or `@sha256:…`.
 */
export function parseReference(ref: string): Reference | undefined {
  const [name, digest] = ref.split("@", 2) as [string, string | undefined];
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) return undefined;
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const hasHost = slash >= 0 && (/[.:]/.test(first) || first === "localhost");
  const host = hasHost ? first : "docker.io";
  let path = hasHost ? name.slice(slash + 1) : name;
  let tag: string | undefined;
  const colon = path.lastIndexOf(":");
  if (colon > path.lastIndexOf("/")) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
  }
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(path)) {
    return undefined;
  }
  if (tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return undefined;
  const repository = host === "docker.io" && !path.includes("/") ? `library/${path}` : path;
  return {
    host,
    repository,
    ...tag === undefined ? {} : { tag },
    ...digest === undefined ? {} : { digest },
  };
}

/** Whether `host` is loopback (`localhost`, `127.x`, `::1`), which clients reach over plain HTTP. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** `sha256:<hex>` of `bytes`. */
export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Why a registry operation failed, for each double to word as its CLI does. */
export type RegistryFailure =
  | { kind: "unreachable"; url: string }
  | { kind: "tls"; url: string }
  | { kind: "untrusted"; url: string }
  | { kind: "unauthorized"; host: string }
  | { kind: "unknown"; what: string }
  | { kind: "mismatch"; expected: string; actual: string };

export class RegistryError extends Error {
  constructor(readonly failure: RegistryFailure) {
    super(failure.kind);
    this.name = "RegistryError";
  }
}

/** What a pull gets back: the manifest (as stored), its digest, and the blob it names. */
export interface Pulled {
  digest: string;
  manifest: Record<string, unknown>;
  blob: Uint8Array;
}

/** The registry directory, or a double's error when the harness did not set it. */
function root(): string {
  const dir = Deno.env.get("BOT_BOTTLE_DOUBLE_REGISTRY");
  if (!dir) throw new Error("BOT_BOTTLE_DOUBLE_REGISTRY is not set: the harness sets it");
  return dir;
}

/** Writes `hosts.json` in `dir` (the harness and tests use it). */
export async function writeRegistryHosts(dir: string, hosts: RegistryHosts): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeWorldFile(join(dir, "hosts.json"), hosts);
}

/**
 * Connects to `ref.host` with `scheme`: refuses an unreachable host, a scheme
 * the host does not serve (TLS to a plain-HTTP registry or the reverse), and
 * a host with users when `login` is missing or wrong.
 */
async function connect(
  ref: Reference,
  scheme: "http" | "https",
  login: RegistryLogin | undefined,
): Promise<string> {
  const hosts = JSON.parse(await Deno.readTextFile(join(root(), "hosts.json"))) as RegistryHosts;
  const host = hosts.hosts[ref.host];
  const url = `${scheme}://${ref.host}/v2/`;
  if (!host || host.reachable === false) throw new RegistryError({ kind: "unreachable", url });
  if ((host.tls ?? false) !== (scheme === "https")) throw new RegistryError({ kind: "tls", url });
  if (host.tls && host.untrusted) throw new RegistryError({ kind: "untrusted", url });
  if (host.users && (!login || host.users[login.username] !== login.password)) {
    throw new RegistryError({ kind: "unauthorized", host: ref.host });
  }
  return join(root(), ref.host, ref.repository);
}

/** Answers `GET /v2/` on `server` with `login` (what `registry login` checks). */
export async function ping(
  server: string,
  scheme: "http" | "https",
  login: RegistryLogin,
): Promise<void> {
  await connect({ host: server, repository: "" }, scheme, login);
}

/**
 * Pushes `blob` with `manifest` (which names the blob's digest and size under
 * `layer`) to `ref` (its tag, default `latest`); returns the manifest's and
 * the blob's digests.
 */
export async function push(
  ref: Reference,
  scheme: "http" | "https",
  login: RegistryLogin | undefined,
  manifest: Record<string, unknown>,
  blob: Uint8Array,
): Promise<{ digest: string; layer: { digest: string; size: number } }> {
  const repo = await connect(ref, scheme, login);
  const layer = { digest: sha256(blob), size: blob.length };
  const bytes = new TextEncoder().encode(JSON.stringify({ ...manifest, layer }));
  const digest = sha256(bytes);
  await write(join(repo, "blobs", layer.digest.slice(7)), blob);
  await write(join(repo, "manifests", `${digest.slice(7)}.json`), bytes);
  await write(join(repo, "tags", ref.tag ?? "latest"), new TextEncoder().encode(digest));
  return { digest, layer };
}

/** Pulls `ref` (by digest, else by tag, default `latest`), verifying both digests. */
export async function pull(
  ref: Reference,
  scheme: "http" | "https",
  login: RegistryLogin | undefined,
): Promise<Pulled> {
  const repo = await connect(ref, scheme, login);
  const name = `${ref.repository}:${ref.digest ?? ref.tag ?? "latest"}`;
  const read = (path: string) =>
    Deno.readFile(path).catch(() => {
      throw new RegistryError({ kind: "unknown", what: name });
    });
  const digest = ref.digest ??
    new TextDecoder().decode(await read(join(repo, "tags", ref.tag ?? "latest")));
  const bytes = await read(join(repo, "manifests", `${digest.slice(7)}.json`));
  if (sha256(bytes) !== digest) {
    throw new RegistryError({ kind: "mismatch", expected: digest, actual: sha256(bytes) });
  }
  const manifest = JSON.parse(new TextDecoder().decode(bytes));
  const layer = manifest.layer as { digest: string };
  const blob = await read(join(repo, "blobs", layer.digest.slice(7)));
  if (sha256(blob) !== layer.digest) {
    throw new RegistryError({ kind: "mismatch", expected: layer.digest, actual: sha256(blob) });
  }
  return { digest, manifest, blob };
}

async function write(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(path, bytes);
}
