/**
 * Formats schema validation problems for error messages.
 *
 * @module
 */

import * as v from "valibot";

/**
 * Turns valibot issues into short `path: message` lines.
 *
 * @param issues The issues of a failed parse.
 * @returns One line per issue.
 */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue);
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}
