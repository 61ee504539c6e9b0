/**
 * A bottle from elsewhere (an imported file; later a registry pull) is
 * untrusted: its recorded run configuration and metadata may ask for this
 * host. {@linkcode reviewForeignBottle} is the one rule for all of them: it
 * lists what would reach the host — host-path bind mounts, the engine's
 * socket, host (or another container's) networking, device and privilege
 * settings — and resets the metadata fields the launcher acts on, so that
 * nothing of it is used until the user says yes.
 *
 * @module
 */

import type { Metadata } from "./metadata.ts";
import type { Prompter } from "../prompter.ts";
import { parseRunConfig, type RunConfig } from "./run_config.ts";

/** One thing a foreign bottle's run configuration asks of this host. */
export interface HostAccess {
  /** What kind of access it is. */
  kind: "host-path" | "engine-socket" | "network";
  /** The setting as recorded, e.g. `/:/host` or `host`. */
  setting: string;
  /** What it gives the bottle, for the user. */
  description: string;
}

/** What {@linkcode reviewForeignBottle} found and what it makes of it. */
export interface ForeignReview {
  /** What the bottle asks of this host; used only with consent. */
  hostAccess: HostAccess[];
  /** The run configuration without any of {@linkcode ForeignReview.hostAccess}. */
  safeRunConfig?: RunConfig;
  /** The run configuration with it (for when the user says yes). */
  grantedRunConfig?: RunConfig;
  /** The metadata with the fields the launcher acts on reset. */
  metadata: Metadata;
  /** What was reset or dropped whatever the user says, one clause each. */
  resets: string[];
}

const NAMED_VOLUME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SOCKET = /(^|\/)(docker|containerd|podman|container-apiserver)?[^/]*\.sock$|\/docker\.sock/;
const KNOWN_FIELDS = [
  "env",
  "volumes",
  "workdir",
  "user",
  "network",
  "labels",
  "tty",
  "interactive",
];

/**
 * Reviews a bottle that comes from elsewhere.
 *
 * @param metadata Its `metadata.json`, validated.
 * @param runConfig Its `run-config.json`, parsed (not yet validated), when it has one.
 * @returns What it asks of the host, its run configuration with and
 * without that, and its metadata made safe.
 * @throws {TypeError} Never for content; `undefined` run configurations are
 * reported by the caller when {@linkcode parseRunConfig} refuses them.
 *
 * @example
 * ```ts
 * import { reviewForeignBottle } from "@bot-bottle/bot-bottle";
 * const review = reviewForeignBottle({ cwd: "/home/dev", copy_cwd: true }, {
 *   env: [], volumes: ["/:/host"], labels: [], tty: false, interactive: false, network: "host",
 * });
 * console.log(review.hostAccess.map((each) => each.description));
 * ```
 */
export function reviewForeignBottle(metadata: Metadata, runConfig?: unknown): ForeignReview {
  const resets: string[] = [];
  const safeMetadata: Metadata = { ...metadata };
  if (metadata.copy_cwd === true) {
    safeMetadata.copy_cwd = false;
    resets.push(
      `copy_cwd was reset to false: the bottle's metadata asked the launcher to copy ` +
        `${JSON.stringify(metadata.cwd ?? "")} on this machine into it`,
    );
  }
  const config = runConfig === undefined ? undefined : parseRunConfig(runConfig);
  if (config === undefined) return { hostAccess: [], metadata: safeMetadata, resets };

  const unknown = Object.keys(runConfig as object).filter((key) => !KNOWN_FIELDS.includes(key));
  if (unknown.length > 0) {
    resets.push(
      `the run configuration's ${unknown.map((key) => JSON.stringify(key)).join(", ")} ` +
        `${unknown.length === 1 ? "was" : "were"} dropped: bot-bottle applies no such setting ` +
        `(devices and privileges are never taken from a file)`,
    );
  }
  const hostAccess: HostAccess[] = [];
  const safe: RunConfig = { ...config, volumes: [], labels: [] };
  for (const volume of config.volumes) {
    const access = volumeAccess(volume);
    if (access) hostAccess.push(access);
    else safe.volumes.push(volume);
  }
  const network = config.network;
  if (network === "host" || network?.startsWith("container:")) {
    hostAccess.push({
      kind: "network",
      setting: network,
      description: network === "host"
        ? `the host's network (--network host): every port and interface of this machine`
        : `the network of the container ${network.slice("container:".length)}`,
    });
    delete safe.network;
  }
  const labels = config.labels.filter((label) => label.startsWith("bot-bottle."));
  if (labels.length > 0) {
    resets.push(`bot-bottle's own labels ${labels.join(", ")} were dropped`);
  }
  safe.labels = config.labels.filter((label) => !label.startsWith("bot-bottle."));
  const granted: RunConfig = { ...config, labels: safe.labels };
  return {
    hostAccess,
    safeRunConfig: safe,
    grantedRunConfig: granted,
    metadata: safeMetadata,
    resets,
  };
}

/** The host access a `--volume` value gives, or `undefined` for a named or anonymous volume. */
function volumeAccess(volume: string): HostAccess | undefined {
  const colon = volume.indexOf(":");
  if (colon === -1) return undefined; // an anonymous volume: a path in the bottle only
  const source = volume.slice(0, colon);
  if (NAMED_VOLUME.test(source)) return undefined;
  const target = volume.slice(colon + 1).split(":")[0];
  if (SOCKET.test(source)) {
    return {
      kind: "engine-socket",
      setting: volume,
      description: `the socket ${source} at ${target} (control of the engine, which is root on ` +
        `this machine)`,
    };
  }
  return {
    kind: "host-path",
    setting: volume,
    description: `this machine's ${source === "/" ? "whole root filesystem" : source} at ` +
      `${target}${volume.endsWith(":ro") ? " (read-only)" : ""}`,
  };
}

/** How {@linkcode grantHostAccess} decides. */
export interface ConsentOptions {
  /** `"allow"` grants, `"ask"` asks through `prompter`, `"drop"` refuses. */
  mode: "allow" | "ask" | "drop";
  /** Asks the user (on a terminal). */
  prompter?: Prompter;
  /** Where the warning goes. */
  log?: (line: string) => void;
  /** How to grant it later, for the warning, e.g. `import it again with --allow-host-access`. */
  again: string;
}

/**
 * Whether the host access a foreign bottle asks for is granted: by `allow`,
 * or by the user's yes to a question naming each item. Otherwise it is
 * dropped, with a warning naming each item.
 *
 * @param slug The bottle's slug here.
 * @param source Where it came from (a file, a registry reference), for the question.
 * @param requested What {@linkcode reviewForeignBottle} listed.
 * @param options How to decide, and where to say it.
 * @returns Whether it was granted (`false` when nothing was asked for).
 */
export async function grantHostAccess(
  slug: string,
  source: string,
  requested: HostAccess[],
  options: ConsentOptions,
): Promise<boolean> {
  if (requested.length === 0) return false;
  const list = requested.map((each) => each.description).join("; ");
  if (options.mode === "allow") {
    options.log?.(`bottle "${slug}" will resume with the host access its file asks for: ${list}`);
    return true;
  }
  if (options.mode === "ask" && options.prompter) {
    const yes = await options.prompter.confirm(
      `${source} asks that bottle "${slug}" resume with access to this machine: ${list}. ` +
        `Allow it?`,
    );
    if (yes) return true;
  }
  options.log?.(
    `warning: bottle "${slug}" will resume without the host access its file asks for: ${list}; ` +
      `if you trust the file, ${options.again}`,
  );
  return false;
}
