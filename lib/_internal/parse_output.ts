// Reading a backend command's JSON output with a schema, for the freezers.

import * as v from "valibot";
import type { BackendCommands, CommandResult } from "../registry/backend_commands.ts";
import { BackendError } from "../errors.ts";
import { describeIssues } from "../registry/schema_issues.ts";

/**
 * Validates a command's JSON output against `schema`.
 *
 * @throws {BackendError} When the output is not JSON of that shape, naming the command.
 */
export function parseOutput<S extends v.GenericSchema>(
  schema: S,
  result: CommandResult,
  commands: BackendCommands,
  command: string,
): v.InferOutput<S> {
  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(schema, json);
  if (parsed.success) return parsed.output;
  throw new BackendError(
    `cannot read the output of "${commands.label(command)}" ` +
      `(${describeIssues(parsed.issues).slice(0, 3).join("; ")}); is this a version of ` +
      `the ${commands.backend} tool that bot-bottle supports?`,
    { backend: commands.backend, command, ...result },
  );
}
