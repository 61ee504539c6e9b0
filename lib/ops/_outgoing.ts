/**
 * A bottle leaving this machine, what `export` (to a file) and `push` (to a
 * registry) share: the snapshot chosen and checked, the bottle's state read
 * once, and what every bottle manifest says of it.
 *
 * @module
 */

import type { Agent } from "../state/agent.ts";
import type { Backend } from "../backend.ts";
import type { BottleEntries } from "../archive/manifest.ts";
import { BadInputError } from "../errors.ts";
import { METADATA_FILE, RUN_CONFIG_FILE } from "../state/bottle_state.ts";
import { findSnapshot, type History, type SnapshotRecord } from "../state/snapshot_history.ts";
import { VERSION } from "../version.ts";

/** The snapshot chosen, and the history it was found in. */
export interface ChosenSnapshot {
  /** The bottle's history. */
  history: History;
  /** The snapshot. */
  snapshot: SnapshotRecord;
}

/** What leaves with the snapshot. */
export interface OutgoingBottle {
  /** `metadata.json`, as the bottle's state holds it. */
  metadataJson: string;
  /** `run-config.json`, when the bottle has one. */
  runConfigJson?: string;
  /** What every bottle manifest says: the bottle, the snapshot, its lineage, this tool and machine. */
  entries: BottleEntries & { platform: { os: string; arch: string } };
}

/**
 * Reads the history and finds the snapshot `at` (default: the newest).
 *
 * @param agent The bottle.
 * @param backend Its backend.
 * @param at An id or `~N`.
 * @param operation `export` or `push`, for the message.
 * @throws {BadInputError} When the bottle has no snapshot, or not that one.
 */
export async function chooseSnapshot(
  agent: Agent,
  backend: Backend,
  at: string | undefined,
  operation: "export" | "push",
): Promise<ChosenSnapshot> {
  const history = await agent.state.readHistory(backend.name);
  if (history.snapshots.length === 0) {
    throw new BadInputError(
      `bottle "${agent.slug}" has no snapshot to ${operation}; commit it first: ` +
        `bot-bottle commit ${agent.slug}`,
    );
  }
  return { history, snapshot: findSnapshot(history, at ?? "~0", agent.slug) };
}

/**
 * Checks that the snapshot's artifact still exists, and reads what leaves
 * with it.
 *
 * @param agent The bottle.
 * @param backend Its backend.
 * @param chosen The snapshot and its history.
 * @param operation `export` or `push`, for the messages.
 * @throws {BadInputError} When the artifact or `metadata.json` is gone; nothing was changed.
 */
export async function readOutgoing(
  agent: Agent,
  backend: Backend,
  { history, snapshot }: ChosenSnapshot,
  operation: "export" | "push",
): Promise<OutgoingBottle> {
  const { slug } = agent;
  if (!(await backend.snapshotExists(snapshot.artifact))) {
    throw new BadInputError(
      `the snapshot ${snapshot.id} of bottle "${slug}", ${snapshot.artifact}, no longer exists ` +
        `on ${backend.name}; ${operation} another one (see "bot-bottle snapshots ${slug}")`,
    );
  }
  // The text openBottle read and validated, under the same lock: read once.
  const metadataJson = agent.state.metadataText ?? await agent.state.readText(METADATA_FILE);
  if (metadataJson === undefined) {
    throw new BadInputError(
      `${agent.state.path(METADATA_FILE)} disappeared during the ${operation}; nothing was ` +
        `${operation === "push" ? "pushed" : "written"}: restore the file and ${operation} again`,
    );
  }
  const runConfigJson = await agent.state.readText(RUN_CONFIG_FILE);
  return {
    metadataJson,
    ...runConfigJson === undefined ? {} : { runConfigJson },
    entries: {
      slug,
      backend: backend.name,
      snapshot: {
        id: snapshot.id,
        createdAt: snapshot.createdAt,
        parent: snapshot.parent,
        message: snapshot.message,
        ...snapshot.mode === undefined ? {} : { mode: snapshot.mode },
      },
      lineage: lineageOf(history, snapshot.id),
      toolVersion: VERSION,
      platform: { os: Deno.build.os, arch: Deno.build.arch },
    },
  };
}

/**
 * The ids from the oldest known ancestor of `id` to `id`, following `parent`.
 *
 * @param history The bottle's history.
 * @param id The snapshot.
 * @returns The lineage, oldest first.
 */
export function lineageOf(history: History, id: string): string[] {
  const byId = new Map(history.snapshots.map((record) => [record.id, record]));
  const lineage: string[] = [];
  for (let at: string | null = id; at !== null && !lineage.includes(at);) {
    lineage.unshift(at);
    at = byId.get(at)?.parent ?? null;
  }
  return lineage;
}
