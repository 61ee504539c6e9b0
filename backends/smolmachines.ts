/**
 * The smolvm freezer: `smolvm pack create` of the bottle's machine into
 * `~/.bot-bottle/state/<slug>/committed-smolmachine.smolmachine`.
 *
 * @module
 */

import * as v from "valibot";
import type { Agent } from "../lib/agent.ts";
import { BackendError } from "../lib/errors.ts";
import { Freezer } from "../lib/freezer.ts";
import { describeIssues } from "../lib/schema_issues.ts";

const Machine = v.looseObject({ name: v.string(), state: v.string() });

/** The stub smolvm writes next to the artifact, in the state directory. */
const STUB = "committed-smolmachine";

/**
 * Snapshots a smolvm bottle with `smolvm pack create --from-vm`, which
 * writes an executable stub and the `.smolmachine` artifact: the machine's
 * disk, not its memory. smolvm packs only machines that are not running, so
 * a running bottle is stopped first, after the user agreed, and started
 * again afterwards unless told not to.
 *
 * The pack goes to a temporary name in the state directory and is renamed
 * into place only after smolvm succeeded: a failed pack never replaces a
 * good earlier artifact.
 */
export class SmolmachinesFreezer extends Freezer {
  /** The registry commands this freezer runs. */
  static override readonly requiredCommands = ["list", "stop", "start", "pack"];

  /** Packs the stopped machine and moves the stub and artifact into place. */
  protected override async freeze(agent: Agent): Promise<string> {
    const name = this.bottleName(agent.slug);
    const machine = (await this.#list(agent)).find((each) => each.name === name);
    if (!machine) {
      throw this.backendError(
        `bottle "${agent.slug}" has no machine "${name}" on smolvm; it has been deleted, or ` +
          `was started elsewhere; see "smolvm machine ls"`,
        "list",
      );
    }
    if (machine.state === "failed" || machine.state === "unreachable") {
      throw this.backendError(
        `bottle "${agent.slug}" is ${machine.state} on smolvm and cannot be snapshotted; ` +
          `see "smolvm machine status --name ${name}"`,
        "list",
      );
    }
    const stub = agent.state.path(STUB);
    const artifact = `${stub}.smolmachine`;
    await this.whileStopped(agent, {
      running: machine.state === "running" || machine.state === "frozen",
      stop: () => this.run("stop", { container: name }, agent),
      start: () => this.run("start", { container: name }, agent, { signal: null }),
      startCommand: `smolvm machine start --name ${name}`,
    }, async () => {
      const temp = agent.state.path(`.${STUB}.tmp-${crypto.randomUUID().slice(0, 8)}`);
      try {
        const result = await this.run("pack", { container: name, path: temp }, agent);
        for (const output of [temp, `${temp}.smolmachine`]) {
          if (!(await Deno.lstat(output).then((info) => info.isFile, () => false))) {
            throw this.backendError(
              `"smolvm pack create" reported success but wrote no ${output}`,
              "pack",
              result,
            );
          }
        }
        await Deno.rename(`${temp}.smolmachine`, artifact);
        await Deno.rename(temp, stub);
      } finally {
        for (const leftover of [temp, `${temp}.smolmachine`]) {
          await Deno.remove(leftover).catch(() => {});
        }
      }
    });
    return artifact;
  }

  /** `cp <artifact> <slug>.smolmachine`. */
  override exportCommand(agent: Agent, artifact: string): string {
    return `cp ${artifact} ${agent.slug}.smolmachine`;
  }

  /** The slugs of the running machines named `bot-bottle-<slug>`. */
  override async runningSlugs(): Promise<string[]> {
    const prefix = this.bottleName("");
    return (await this.#list())
      .filter((machine) => machine.state === "running" && machine.name.startsWith(prefix))
      .map((machine) => machine.name.slice(prefix.length));
  }

  async #list(agent?: Agent): Promise<v.InferOutput<typeof Machine>[]> {
    const result = await this.run("list", {}, agent);
    let json: unknown;
    try {
      json = JSON.parse(result.stdout);
    } catch {
      json = undefined;
    }
    const parsed = v.safeParse(v.array(Machine), json);
    if (parsed.success) return parsed.output;
    throw this.backendError(
      `cannot read the output of "smolvm machine ls --json" (${
        describeIssues(parsed.issues).slice(0, 3).join("; ")
      }); is this a supported version of smolvm?`,
      "list",
      result,
    );
  }

  /** Keeps smolvm's own words; names a missing machine in the user's terms. */
  protected override explainFailure(error: BackendError, agent?: Agent): BackendError {
    if (agent && /VM '[^']*' not found|vm not found/.test(error.stderr)) {
      return new BackendError(
        `bottle "${agent.slug}" has no machine "${this.bottleName(agent.slug)}" on smolvm ` +
          `(smolvm says: ${error.stderr.trim().split("\n").at(-1)})`,
        error,
        { cause: error },
      );
    }
    return error;
  }
}

export default SmolmachinesFreezer;
