/**
 * A bottle's run configuration: what its backend needs, besides the
 * snapshot, to boot it again the way it ran (mounts, environment, network,
 * terminal). `commit` records it in the state directory as
 * `run-config.json`, because an image keeps only part of it.
 *
 * @module
 */

import * as v from "valibot";

/** The schema of `run-config.json`. */
const RunConfigSchema = v.object({
  env: v.array(v.string()),
  volumes: v.array(v.string()),
  workdir: v.exactOptional(v.string()),
  user: v.exactOptional(v.string()),
  network: v.exactOptional(v.string()),
  labels: v.array(v.string()),
  tty: v.boolean(),
  interactive: v.boolean(),
});

/** How a bottle ran: everything `resume` passes to the backend besides the snapshot. */
export interface RunConfig {
  /** Environment variables, `NAME=value`. */
  env: string[];
  /** Bind mounts and volumes, `HOST_PATH_OR_NAME:GUEST_PATH[:ro]`. */
  volumes: string[];
  /** The working directory. */
  workdir?: string;
  /** The user, `name` or `uid[:gid]`. */
  user?: string;
  /** The network it was attached to, when not the default. */
  network?: string;
  /** Its labels, `key=value` (bot-bottle's own excluded). */
  labels: string[];
  /** Whether it had a terminal. */
  tty: boolean;
  /** Whether its standard input was kept open. */
  interactive: boolean;
}

/** A run configuration with nothing in it. */
export function emptyRunConfig(): RunConfig {
  return { env: [], volumes: [], labels: [], tty: false, interactive: false };
}

/**
 * Validates parsed JSON as a run configuration.
 *
 * @param value The parsed content of `run-config.json`.
 * @returns The configuration, or `undefined` when it is not one.
 */
export function parseRunConfig(value: unknown): RunConfig | undefined {
  const result = v.safeParse(RunConfigSchema, value);
  return result.success ? result.output : undefined;
}

/**
 * The values of a `run` template's placeholders for a run configuration:
 * `{env...}`, `{volume...}`, `{workdir...}`, `{user...}`, `{network...}`,
 * `{label...}` and `{flags...}`.
 *
 * @param config The run configuration.
 * @returns The placeholder values.
 */
export function runValues(config: RunConfig): Record<string, string[]> {
  return {
    env: config.env,
    volume: config.volumes,
    workdir: config.workdir ? [config.workdir] : [],
    user: config.user ? [config.user] : [],
    network: config.network ? [config.network] : [],
    label: config.labels,
    flags: [...config.tty ? ["--tty"] : [], ...config.interactive ? ["--interactive"] : []],
  };
}
