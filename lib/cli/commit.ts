/**
 * `bot-bottle commit [<slug>]`.
 *
 * @module
 */

import type { Agent } from "../state/agent.ts";
import { dax } from "../_internal/dax.ts";
import { BackendError, BadInputError, CommitCancelled, UsageError } from "../errors.ts";
import type { Prompter } from "../prompter.ts";
import type { Registry } from "../registry/registry.ts";
import { type CliCommand, type CliContext, lockingOptions, WAIT_OPTIONS } from "./command.ts";
import { phaseProgress } from "./progress.ts";

/** `bot-bottle commit`. */
export const commitCommand: CliCommand = {
  name: "commit",
  summary: "snapshot a running bottle into a resumable artifact",
  usage: "bot-bottle commit [<slug>] [options]",
  description: [
    "Snapshots the bottle <slug> on the backend its metadata names, records the snapshot in",
    "its state directory (committed-image, .preserve), and prints how to resume and export it.",
    "Without <slug> on a terminal, picks from the running bottles that have state.",
    "Docker pauses the bottle while it copies its files (seconds for a gigabyte); --no-pause",
    "lets the agent work on, at the price that a file being written during the copy may be",
    "caught half-way in the snapshot.",
  ].join("\n"),
  options: {
    yes: { type: "boolean", short: "y", description: "answer yes to every confirmation" },
    "no-restart": {
      type: "boolean",
      description: "leave a bottle that had to be stopped for its snapshot stopped",
    },
    "no-pause": {
      type: "boolean",
      description: "docker only: do not pause the agent while its files are copied (files " +
        "being written may be caught half-way)",
    },
    message: {
      type: "string",
      short: "m",
      valueName: "text",
      description: "a note kept with the snapshot (see bot-bottle snapshots)",
    },
    json: {
      type: "boolean",
      description: "print one JSON object (slug, backend, artifact, commands) on stdout",
    },
    ...WAIT_OPTIONS,
  },
  async run({ values, positionals }, context) {
    if (positionals.length > 1) {
      throw new UsageError(
        `commit takes one slug, got ${positionals.length}; run "bot-bottle commit --help" for usage`,
      );
    }
    const json = values.json === true;
    // dax runs every backend command: its load (tens of ms) starts now and overlaps the
    // loading of the rest and the reading of the state. Its failure shows where it is used.
    dax().catch(() => {});
    const [{ commit }, { terminalPrompter }, { loadRegistry }] = await Promise.all([
      import("../ops/commit.ts"),
      import("../prompter.ts"),
      import("../registry/registry.ts"),
    ]);
    const prompter = terminalPrompter({ yes: values.yes === true, signal: context.signal });
    const registry = await loadRegistry();
    const slug = positionals[0] ?? await pickBottle(registry, prompter, context);
    const progress = phaseProgress(`committing ${slug}`, !json, context.log);
    let result;
    try {
      result = await commit(slug, {
        registry,
        restart: values["no-restart"] !== true,
        ...typeof values.message === "string" ? { message: values.message } : {},
        ...values["no-pause"] === true ? { pause: false } : {},
        ...lockingOptions(values, context),
        ...progress.around(context, prompter, json ? undefined : context.log),
      });
    } finally {
      progress.finish();
    }
    if (json) context.print(JSON.stringify(result));
  },
};

async function pickBottle(
  registry: Registry,
  prompter: Prompter,
  context: CliContext,
): Promise<string> {
  const noSlug = "no slug given";
  // Fail before querying any backend when no one can answer the picker.
  if (!Deno.stdin.isTerminal() || !Deno.stderr.isTerminal()) {
    throw new UsageError(`${noSlug}; pass the bottle's slug: bot-bottle commit <slug>`);
  }
  const [{ loadAgent }, { listStateSlugs, stateRoot }] = await Promise.all([
    import("../state/agent.ts"),
    import("../state/bottle_state.ts"),
  ]);
  const root = stateRoot();
  const agents = new Map<string, Agent[]>();
  for (const slug of await listStateSlugs(root)) {
    const agent = await loadAgent(slug, root).catch(() => undefined);
    if (!agent) continue;
    let backend: string;
    try {
      backend = registry.resolve(agent.backend).name;
    } catch {
      continue; // an unknown backend: committing it would fail anyway
    }
    agents.set(backend, [...agents.get(backend) ?? [], agent]);
  }
  const running: string[] = [];
  for (const [backend, group] of agents) {
    try {
      const slugs = new Set(await registry.getBackend(backend).runningSlugs());
      running.push(...group.filter((agent) => slugs.has(agent.slug)).map((agent) => agent.slug));
    } catch (error) {
      if (!(error instanceof BackendError)) throw error;
      context.log(`warning: cannot list the ${backend} bottles: ${error.message}`);
    }
  }
  if (running.length === 0) {
    throw new BadInputError(
      `${noSlug}, and no running bottle has state in ${root}/state; pass the bottle's slug`,
    );
  }
  running.sort();
  const index = await prompter.select("Which bottle do you want to commit?", running);
  const picked = index === undefined ? undefined : running[index];
  if (picked === undefined) throw new CommitCancelled("no bottle picked; nothing was committed");
  return picked;
}
