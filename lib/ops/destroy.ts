/**
 * Throwing a bottle away: the operation behind `bot-bottle destroy`.
 *
 * @module
 */

import type { Agent } from "../state/agent.ts";
import { openBottle } from "./open.ts";
import type { BottleLockOptions } from "../state/bottle_lock.ts";
import { Cancelled } from "../errors.ts";
import { terminalPrompter } from "../prompter.ts";
import { type GetFreezerOptions, type Registry } from "../registry/registry.ts";

/** Options for {@linkcode destroy}. */
export interface DestroyOptions extends GetFreezerOptions, BottleLockOptions {
  /** Remove only the running bottle; keep its snapshot and state directory. */
  keepSnapshot?: boolean;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode destroy} removed. */
export interface DestroyResult {
  /** The bottle's slug. */
  slug: string;
  /** Whether a bottle (container or machine) was removed. */
  removedBottle: boolean;
  /** The snapshots removed (their artifacts); absent with `keepSnapshot`. */
  removedSnapshots?: string[];
  /** The state directory removed, if it was. */
  removedState?: string;
}

/**
 * Stops and removes the bottle `slug`, then (unless `keepSnapshot`) its
 * snapshot and its state directory, after a confirmation that names what
 * will be lost. Nothing outside the state directory and the backend objects
 * named after the slug is touched.
 *
 * @param slug The bottle's slug.
 * @param options What to keep, and how to ask.
 * @returns What was removed.
 * @throws {BadInputError} When the slug is invalid or the bottle has no state.
 * @throws {Cancelled} When the user declined.
 * @throws {UsageError} When a confirmation is needed and cannot be asked.
 *
 * @example
 * ```ts
 * import { destroy } from "@bot-bottle/bot-bottle";
 * import { terminalPrompter } from "@bot-bottle/bot-bottle";
 * await destroy("dev-abc12", { prompter: terminalPrompter({ yes: true }) });
 * ```
 */
export async function destroy(slug: string, options: DestroyOptions = {}): Promise<DestroyResult> {
  await using bottle = await openBottle(slug, "destroy", options);
  const { agent, backend } = bottle;
  const log = options.log ?? (() => {});
  const status = await backend.bottleStatus(slug);
  const named = options.keepSnapshot ? [] : await snapshotArtifacts(agent, backend.name);
  // Only the bottle's own snapshots, whatever its state files name; the rest are left alone.
  const artifacts: string[] = [];
  for (const artifact of named) {
    if (!(await backend.ownershipProblem(slug, agent.state.dir, artifact))) {
      artifacts.push(artifact);
    }
  }
  const losses = [
    ...status === "absent"
      ? []
      : [`the ${status} ${backend.bottleName(slug)} and every change in it`],
    ...artifacts.length === 0 ? [] : [
      `its ${artifacts.length === 1 ? "snapshot" : `${artifacts.length} snapshots`} ` +
      `(${artifacts.join(", ")})`,
    ],
    ...options.keepSnapshot ? [] : [`its state directory ${agent.state.dir}`],
  ];
  if (losses.length === 0) {
    log(`bottle "${slug}" has no running bottle to remove; its snapshot and state are kept`);
    return { slug, removedBottle: false };
  }
  const prompter = options.prompter ?? terminalPrompter({ interactive: false });
  const removes = [
    ...status === "absent" ? [] : [`the ${status} ${backend.bottleName(slug)}`],
    ...artifacts.length === 0
      ? []
      : [artifacts.length === 1 ? "its snapshot" : `its ${artifacts.length} snapshots`],
    ...options.keepSnapshot ? [] : ["its state directory"],
  ];
  const action = `destroying bottle "${slug}" removes ${
    removes.length === 1 ? removes[0] : `${removes.slice(0, -1).join(", ")} and ${removes.at(-1)}`
  }`;
  if (!(await prompter.confirm(`destroy bottle "${slug}": ${losses.join("; ")}?`, action))) {
    throw new Cancelled(`destroy cancelled; bottle "${slug}" was left as it was`);
  }
  const result: DestroyResult = { slug, removedBottle: status !== "absent" };
  if (status !== "absent") {
    await backend.removeBottle(slug);
    log(`removed ${backend.bottleName(slug)}`);
  }
  if (options.keepSnapshot) return result;
  for (const artifact of named) {
    if (await backend.removeOwnSnapshot(agent, artifact)) log(`removed the snapshot ${artifact}`);
  }
  result.removedSnapshots = artifacts;
  await removeStateDirectory(agent);
  result.removedState = agent.state.dir;
  log(`removed ${agent.state.dir}`);
  return result;
}

/** Every artifact of the bottle's snapshots, and what `committed-image` names, each once. */
async function snapshotArtifacts(agent: Agent, backend: string): Promise<string[]> {
  const history = await agent.state.readHistory(backend);
  const current = await agent.state.readCommittedImage();
  const artifacts = history.snapshots.map((record) => record.artifact);
  return [...new Set(current === undefined ? artifacts : [...artifacts, current])];
}

async function removeStateDirectory(agent: Agent): Promise<void> {
  // Never a link's target: the same check every read and write of the state makes.
  if (await agent.state.checkDirectory()) {
    await Deno.remove(agent.state.dir, { recursive: true });
  }
}
