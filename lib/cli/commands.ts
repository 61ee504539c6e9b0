/**
 * Every subcommand of the CLI, in the order `--help` lists them.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import { backendsCommand } from "./backends.ts";
import { commitCommand } from "./commit.ts";
import { completionsCommand } from "./completions.ts";
import { destroyCommand } from "./destroy.ts";
import { execCommand } from "./exec.ts";
import { exportCommand } from "./export.ts";
import { importCommand } from "./import.ts";
import { lsCommand } from "./ls.ts";
import { pruneCommand } from "./prune.ts";
import { pullCommand } from "./pull.ts";
import { pushCommand } from "./push.ts";
import { resumeCommand } from "./resume.ts";
import { snapshotsCommand } from "./snapshots.ts";
import { startCommand } from "./start.ts";

/** The CLI's commands. */
export const COMMANDS: readonly CliCommand[] = [
  startCommand,
  commitCommand,
  resumeCommand,
  execCommand,
  lsCommand,
  snapshotsCommand,
  pruneCommand,
  exportCommand,
  importCommand,
  pushCommand,
  pullCommand,
  destroyCommand,
  backendsCommand,
  completionsCommand(() => COMMANDS),
];
