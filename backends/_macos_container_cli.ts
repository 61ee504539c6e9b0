// What the Apple `container` CLI prints, read: the schemas of its JSON output
// (`image list`, `list`), and the bottle's state, run configuration and image
// config taken from it, for the backend (macos_container_backend.ts) and the freezer
// (macos_container.ts).

import * as v from "valibot";
import { semver } from "../lib/_internal/semver.ts";
import { parseOutput } from "../lib/_internal/parse_output.ts";
import type { Agent } from "../lib/state/agent.ts";
import type { BottleStatus } from "../lib/backend.ts";
import { emptyRunConfig, type RunConfig } from "../lib/state/run_config.ts";
import type { OciImageConfig } from "../lib/archive/oci_image_layout.ts";
import type { MacosContainerBackend } from "./macos_container_backend.ts";

/** An OCI descriptor's digest, where `image list` gives one. */
const Descriptor = v.optional(v.looseObject({ digest: v.string() }));

/**
 * One image of `container image list --format json`: before 1.0.0
 * `{reference, descriptor}`; from 1.0.0 `{id, configuration: {name,
 * descriptor, …}, variants}`. The descriptor is the image's index in Apple's
 * content-addressed store: the `index.json` descriptor it was loaded from, or
 * (a loaded manifest) the index the store made for it; `image save` writes
 * that index back, so a saved image lists the digest in its archive's
 * `index.json`.
 */
export const ListedImage = v.union([
  v.pipe(
    v.looseObject({ reference: v.string(), descriptor: Descriptor }),
    v.transform((image) => ({ name: image.reference, digest: image.descriptor?.digest })),
  ),
  v.pipe(
    v.looseObject({ configuration: v.looseObject({ name: v.string(), descriptor: Descriptor }) }),
    v.transform((image) => ({
      name: image.configuration.name,
      digest: image.configuration.descriptor?.digest,
    })),
  ),
]);

const User = v.union([
  v.object({ id: v.object({ uid: v.number(), gid: v.number() }) }),
  v.object({ raw: v.object({ userString: v.string() }) }),
]);

const Snapshot = v.looseObject({
  configuration: v.looseObject({
    id: v.string(),
    initProcess: v.optional(v.looseObject({
      executable: v.string(),
      arguments: v.optional(v.array(v.string()), []),
      environment: v.optional(v.array(v.string()), []),
      workingDirectory: v.optional(v.string()),
      terminal: v.optional(v.boolean()),
      user: v.optional(User),
    })),
    mounts: v.optional(v.array(v.looseObject({
      // A Swift enum: `{ "virtiofs": {} }` (bind), `{ "tmpfs": {} }`, `{ "volume": { "name": … } }`.
      type: v.optional(v.record(v.string(), v.unknown())),
      source: v.optional(v.string()),
      destination: v.string(),
      options: v.optional(v.array(v.string())),
    }))),
    labels: v.optional(v.record(v.string(), v.string())),
    // 0.x: names; 1.x: attachment configurations.
    networks: v.optional(v.array(v.union([v.string(), v.looseObject({ network: v.string() })]))),
    platform: v.optional(v.looseObject({
      os: v.string(),
      architecture: v.string(),
      variant: v.exactOptional(v.string()),
    })),
  }),
  // 1.0.0 and later: `{ "state": "running" }`; before: the plain string.
  status: v.union([v.string(), v.looseObject({ state: v.string() })]),
});

/** One container as `container list --all --format json` describes it. */
export type ContainerSnapshot = v.InferOutput<typeof Snapshot>;

/** Apple's container states as bot-bottle reports them; a stopping container is still alive. */
export function statusOf(state: string): BottleStatus {
  return state === "stopped" ? "stopped" : "running";
}

/** `name:tag` and `docker.io/library/name:tag` name the same image. */
export function normalise(reference: string): string {
  return reference.replace(/^docker\.io\/library\//, "");
}

/** How the container ran, for `resume`. */
export function runConfigOf(bottle: ContainerSnapshot): RunConfig {
  const configuration = bottle.configuration;
  const process = configuration.initProcess;
  const config = emptyRunConfig();
  config.env = process?.environment ?? [];
  if (process?.workingDirectory) config.workdir = process.workingDirectory;
  const user = process?.user;
  if (user) config.user = "raw" in user ? user.raw.userString : `${user.id.uid}:${user.id.gid}`;
  config.tty = process?.terminal === true;
  for (const mount of configuration.mounts ?? []) {
    const volume = mount.type?.volume as { name?: unknown } | undefined;
    const source = typeof volume?.name === "string"
      ? volume.name
      : mount.type === undefined || "virtiofs" in mount.type
      ? mount.source
      : undefined; // tmpfs and other kinds hold nothing to mount again
    if (!source) continue;
    const readOnly = mount.options?.includes("ro") ? ":ro" : "";
    config.volumes.push(`${source}:${mount.destination}${readOnly}`);
  }
  config.labels = Object.entries(configuration.labels ?? {})
    .filter(([key]) => key !== "bot-bottle.slug")
    .map(([key, value]) => `${key}=${value}`);
  const network = configuration.networks?.[0];
  const name = typeof network === "string" ? network : network?.network;
  if (name && name !== "default") config.network = name;
  return config;
}

export function stateOf(bottle: ContainerSnapshot): string {
  return typeof bottle.status === "string" ? bottle.status : bottle.status.state;
}

/** The original process as an image config, so the rebuilt image runs the same way. */
export function imageConfig(bottle: ContainerSnapshot, slug: string): OciImageConfig {
  const process = bottle.configuration.initProcess;
  const config: OciImageConfig = { Labels: { "bot-bottle.slug": slug } };
  if (!process) return config;
  config.Cmd = [process.executable, ...process.arguments];
  config.Env = process.environment;
  if (process.workingDirectory) config.WorkingDir = process.workingDirectory;
  const user = process.user;
  if (user) config.User = "raw" in user ? user.raw.userString : `${user.id.uid}:${user.id.gid}`;
  return config;
}

/** The first `container` release that exports a running container live. */
export const LIVE_EXPORT = "1.2.1";
/** The first `container` release with `export`: older ones cannot snapshot at all. */
export const FIRST_EXPORT = "0.10.0";

/** The `container` CLI's version, or `undefined` when it cannot be read. */
export async function cliVersion(
  backend: MacosContainerBackend,
  agent?: Agent,
): Promise<string | undefined> {
  const { stdout } = await backend.run("version", {}, agent);
  return (await semver()).coerce(stdout)?.version;
}

/** Every container, from `container list --all --format json`. */
export async function listBottles(
  backend: MacosContainerBackend,
  agent?: Agent,
): Promise<ContainerSnapshot[]> {
  const result = await backend.run("list", {}, agent);
  return parseOutput(v.array(Snapshot), result, backend.commands, "list");
}

/** The bottle's container; a backend error when it has none. */
export async function findBottle(
  backend: MacosContainerBackend,
  agent: Agent,
): Promise<ContainerSnapshot> {
  const name = backend.bottleName(agent.slug);
  const bottle = (await listBottles(backend, agent)).find((each) => each.configuration.id === name);
  if (bottle) return bottle;
  throw backend.backendError(
    `bottle "${agent.slug}" has no container "${name}" on Apple container; it has been ` +
      `deleted, or was started elsewhere; see "container list --all"`,
    "list",
  );
}

/** Whether the bottle's container exists (`true` when the list cannot be read). */
export async function bottleExists(backend: MacosContainerBackend, agent: Agent): Promise<boolean> {
  const name = backend.bottleName(agent.slug);
  const bottles = await listBottles(backend, agent).catch(() => undefined);
  return bottles?.some((each) => each.configuration.id === name) ?? true;
}
