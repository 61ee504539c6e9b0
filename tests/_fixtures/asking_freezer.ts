// A test backend whose snapshot needs a confirmation first, as the freezers
// that must stop a bottle do. It runs no external command: its artifact is a
// name made from the slug.

import type { Agent } from "../../lib/state/agent.ts";
import { CommitCancelled } from "../../lib/errors.ts";
import { Freezer } from "../../lib/freezer.ts";
import { DockerBackend } from "../../backends/docker.ts";

/** Docker's backend with no commands or wording declared: a commit here runs none. */
export class AskingBackend extends DockerBackend {
  static override readonly requiredCommands: readonly string[] = [];
  static override readonly needsEngine: boolean = false;

  /** Asks the user, as a backend that must stop a bottle does. */
  ask(question: string): Promise<boolean> {
    return this.prompter.confirm(question);
  }
}

export default class AskingFreezer extends Freezer<AskingBackend> {
  static readonly Backend: typeof AskingBackend = AskingBackend;

  protected override async freeze(agent: Agent): Promise<string> {
    const yes = await this.bottles.ask(`stop bottle "${agent.slug}" to snapshot it?`);
    if (!yes) throw new CommitCancelled();
    return `asking-snapshot-${agent.slug}`;
  }

  override exportCommand(_agent: Agent, artifact: string): string {
    return `copy ${artifact}`;
  }
}
