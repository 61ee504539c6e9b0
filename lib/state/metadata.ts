/**
 * The schema of a bottle's `metadata.json`, as the launcher writes it.
 *
 * @module
 */

import * as v from "valibot";
import { MAX_JSON_DEPTH } from "./atomic_write.ts";
import { describeIssues } from "../registry/schema_issues.ts";

const optional = <T extends v.GenericSchema>(schema: T) => v.exactOptional(v.nullable(schema));

/*
 * `metadata.json`: every field optional (older directories lack newer
 * fields, and the launcher may write `null` for an unset one), unknown
 * fields kept as they are so that rewriting the file never drops them.
 */
const MetadataSchema = v.looseObject({
  identity: optional(v.string()),
  agent_name: optional(v.string()),
  cwd: optional(v.string()),
  copy_cwd: optional(v.boolean()),
  started_at: optional(v.string()),
  compose_project: optional(v.string()),
  backend: optional(v.string()),
  label: optional(v.string()),
  color: optional(v.string()),
  bottle_names: optional(v.array(v.string())),
});

/**
 * A bottle's `metadata.json` as the launcher writes it. Every field may be
 * missing (or `null`); fields bot-bottle does not know are kept.
 */
export interface Metadata {
  /** The bottle's identity: its slug. */
  identity?: string | null;
  /** The agent that runs in it, e.g. `"claude"`. */
  agent_name?: string | null;
  /** The working directory the bottle was started from. */
  cwd?: string | null;
  /** Whether that directory was copied into the bottle. */
  copy_cwd?: boolean | null;
  /** When it started: ISO 8601 with offset, e.g. `2026-06-23T07:41:48.123456+00:00`. */
  started_at?: string | null;
  /** The compose project on docker: `bot-bottle-<slug>`. */
  compose_project?: string | null;
  /** `"docker"`, `"macos-container"`, `"smolmachines"`, or `""`/absent for docker. */
  backend?: string | null;
  /** The user's label. */
  label?: string | null;
  /** The bottle's colour in the launcher's UI. */
  color?: string | null;
  /** The names of the bottle's containers or machines. */
  bottle_names?: string[] | null;
  /** Fields bot-bottle does not know, kept as they are. */
  [field: string]: unknown;
}

// The schema's output must be a Metadata.
const _schemaMatchesType: (output: v.InferOutput<typeof MetadataSchema>) => Metadata = (
  output,
) => output;

/**
 * Validates parsed JSON as metadata. Arrays and objects nested deeper than
 * {@linkcode MAX_JSON_DEPTH} are refused: they could not be written back.
 *
 * @param value The parsed content of `metadata.json`.
 * @returns The metadata, or the list of problems, each `field: what is wrong`.
 */
export function validateMetadata(
  value: unknown,
): { ok: true; metadata: Metadata } | { ok: false; problems: string[] } {
  if (nestsDeeper(value, MAX_JSON_DEPTH)) {
    return {
      ok: false,
      problems: [`arrays or objects nest more than ${MAX_JSON_DEPTH} levels deep`],
    };
  }
  const result = v.safeParse(MetadataSchema, value);
  if (!result.success) return { ok: false, problems: describeIssues(result.issues) };
  // valibot leaves out the keys "__proto__", "constructor" and "prototype";
  // they are kept as plain own fields, like every other unknown field.
  const metadata: Metadata = result.output;
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (!Object.hasOwn(metadata, key)) {
      Object.defineProperty(metadata, key, {
        value: field,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return { ok: true, metadata };
}

/** Whether arrays and objects in `value` nest deeper than `limit`; without recursion. */
function nestsDeeper(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (item === null || typeof item !== "object") continue;
    if (depth > limit) return true;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

/**
 * A `started_at` value as the launcher writes it: ISO 8601 with microseconds
 * and an explicit offset, e.g. `2026-12-06T02:42:25.505000+00:00`.
 *
 * @param date The moment.
 * @returns The timestamp.
 */
export function startedAt(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000+00:00");
}
