// A test backend whose snapshot needs a confirmation first, as the freezers
// that must stop a bottle do. It runs no external command: its artifact is a
// name made from the slug.

import type { Agent } from "../../lib/agent.ts";
import { CommitCancelled } from "../../lib/errors.ts";
import { CommitOnlyFreezer } from "./commit_only_freezer.ts";

export default class AskingFreezer extends CommitOnlyFreezer {
  static override readonly requiredCommands: readonly string[] = [];

  protected override async freeze(agent: Agent): Promise<string> {
    const yes = await this.prompter.confirm(`stop bottle "${agent.slug}" to snapshot it?`);
    if (!yes) throw new CommitCancelled();
    return `asking-snapshot-${agent.slug}`;
  }

  override exportCommand(_agent: Agent, artifact: string): string {
    return `copy ${artifact}`;
  }

  override runningSlugs(): Promise<string[]> {
    return Promise.resolve([]);
  }
}
