/**
 * The schema of a bottle's `metadata.json`, as the launcher writes it.
 *
 * @module
 */

import * as v from "valibot";
import { describeIssues } from "./schema_issues.ts";

const optional = <T extends v.GenericSchema>(schema: T) => v.nullish(schema);

/**
 * `metadata.json`: every field optional (older directories lack newer
 * fields, and the launcher may write `null` for an unset one), unknown
 * fields kept as they are so that rewriting the file never drops them.
 */
export const MetadataSchema = v.looseObject({
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

/** A bottle's metadata, with any fields the launcher added that we do not know. */
export type Metadata = v.InferOutput<typeof MetadataSchema>;

/**
 * Validates parsed JSON as metadata.
 *
 * @param value The parsed content of `metadata.json`.
 * @returns The metadata, or the list of problems, each `field: what is wrong`.
 */
export function validateMetadata(
  value: unknown,
): { ok: true; metadata: Metadata } | { ok: false; problems: string[] } {
  const result = v.safeParse(MetadataSchema, value);
  if (result.success) return { ok: true, metadata: result.output };
  return { ok: false, problems: describeIssues(result.issues) };
}
