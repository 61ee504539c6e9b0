/**
 * Formats schema validation problems for error messages.
 *
 * @module
 */

import * as v from "valibot";

/** The longest a problem line gets: a hostile file's values can be long. */
const MAX_PROBLEM_LENGTH = 200;

/**
 * Turns valibot issues into short `path: message` lines, each cut to
 * 200 characters (the message quotes the value found, which may be huge).
 *
 * @param issues The issues of a failed parse.
 * @returns One line per issue.
 */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue);
    const problem = path ? `${path}: ${issue.message}` : issue.message;
    return problem.length > MAX_PROBLEM_LENGTH
      ? `${problem.slice(0, MAX_PROBLEM_LENGTH)}…`
      : problem;
  });
}
