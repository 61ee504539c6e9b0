/**
 * The smolvm freezer: `smolvm pack create` of the bottle's machine into
 * `~/.bot-bottle/state/<slug>/committed-smolmachine.smolmachine`. This module
 * is the one the registry names: it has the freezer, and re-exports the
 * backend (`smolmachines_backend.ts`).
 *
 * @module
 */

import type { Agent } from "../lib/state/agent.ts";
import { type FreezeContext, Freezer, type Frozen } from "../lib/freezer.ts";
import { SmolmachinesBackend } from "./smolmachines_backend.ts";
import {
  FLOOR,
  FLOOR_REASON,
  listMachines,
  pointAt,
  replaceWithLink,
  SNAPSHOTS,
  STUB,
} from "./_smolmachines.ts";

export { SmolmachinesBackend };

/** A release known to carry `pack create --include-workspace` (the first one is unverified). */
const WORKSPACE_RELEASE = "1.22";

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
export class SmolmachinesFreezer extends Freezer<SmolmachinesBackend> {
  /** The backend it snapshots with. */
  static readonly Backend: typeof SmolmachinesBackend = SmolmachinesBackend;

  /** Packs the stopped machine and moves the stub and artifact into place. */
  protected override async freeze(
    agent: Agent,
    { id, previous, undo }: FreezeContext,
  ): Promise<Frozen> {
    const name = this.bottles.bottleName(agent.slug);
    const version = await this.bottles.needsVersion(FLOOR, FLOOR_REASON, agent);
    const machine = (await listMachines(this.bottles, agent)).find((each) => each.name === name);
    if (!machine) {
      throw this.bottles.backendError(
        `bottle "${agent.slug}" has no machine "${name}" on smolvm; it has been deleted, or ` +
          `was started elsewhere; see "smolvm machine ls"`,
        "list",
      );
    }
    if (machine.state === "failed" || machine.state === "unreachable") {
      throw this.bottles.backendError(
        `bottle "${agent.slug}" is ${machine.state} on smolvm and cannot be snapshotted; ` +
          `see "smolvm machine status --name ${name}"`,
        "list",
      );
    }
    const stub = this.#snapshotStub(agent, id);
    const artifact = `${stub}.smolmachine`;
    // `/workspace` lives on the machine's storage disk, which a pack carries only when asked.
    const workspace = await this.bottles.packsWorkspace(agent);
    const warnings = workspace ? [] : [
      `/workspace was not captured: smolvm ${
        version ?? "(version unknown)"
      } cannot put it in a pack ("smolvm pack create --help" lists no --include-workspace), ` +
      `so what the agent wrote there is not in this snapshot; upgrade smolvm ` +
      `(${WORKSPACE_RELEASE} and later carry --include-workspace) and commit again`,
    ];
    await this.bottles.whileStopped(agent, {
      running: machine.state === "running" || machine.state === "frozen",
      stop: () => this.bottles.run("stop", { container: name }, agent),
      start: () => this.bottles.run("start", { container: name }, agent, { signal: null }),
      startCommand: `smolvm machine start --name ${name}`,
    }, async () => {
      const temp = agent.state.path(`.${STUB}.tmp-${crypto.randomUUID().slice(0, 8)}`);
      try {
        await Deno.mkdir(agent.state.path(SNAPSHOTS), { recursive: true, mode: 0o700 });
        const result = await this.bottles.run(
          workspace ? "packWorkspace" : "pack",
          { container: name, path: temp },
          agent,
        );
        for (const output of [temp, `${temp}.smolmachine`]) {
          if (!(await Deno.lstat(output).then((info) => info.isFile, () => false))) {
            throw this.bottles.backendError(
              `"smolvm pack create" reported success but wrote no ${output}`,
              "pack",
              result,
            );
          }
        }
        this.bottles.undoSnapshot(undo, agent, artifact);
        await Deno.rename(`${temp}.smolmachine`, artifact);
        await Deno.rename(temp, stub);
      } finally {
        for (const leftover of [temp, `${temp}.smolmachine`]) {
          await Deno.remove(leftover).catch(() => {});
        }
        // Only when empty: a failed first pack leaves no snapshots directory behind.
        await Deno.remove(agent.state.path(SNAPSHOTS)).catch(() => {});
      }
    });
    // The newest also goes by the launcher's names: hard links, no copy.
    const current = agent.state.path(`${STUB}.smolmachine`);
    this.bottles.deferUndo(
      undo,
      `the move of ${current} to the new snapshot`,
      previous ? `link it back with: ln -f ${previous} ${current}` : `remove it: rm ${current}`,
      async () => {
        await pointAt(previous, current);
        await pointAt(previous?.slice(0, -".smolmachine".length), agent.state.path(STUB));
      },
    );
    await replaceWithLink(artifact, current);
    await replaceWithLink(stub, agent.state.path(STUB));
    const sizeBytes = (await Deno.lstat(artifact)).size;
    return { artifact, current, sizeBytes, warnings };
  }

  /** Links a snapshot made before histories were kept into `snapshots/legacy.smolmachine`. */
  protected override async adoptLegacy(agent: Agent, artifact: string): Promise<string> {
    // Before it links anything: a commit on a smolvm too old is refused with nothing changed.
    await this.bottles.needsVersion(FLOOR, FLOOR_REASON, agent);
    const legacy = `${this.#snapshotStub(agent, "legacy")}.smolmachine`;
    if (
      artifact !== agent.state.path(`${STUB}.smolmachine`) ||
      !(await this.bottles.snapshotExists(artifact))
    ) {
      return artifact;
    }
    await Deno.mkdir(agent.state.path(SNAPSHOTS), { recursive: true, mode: 0o700 });
    await replaceWithLink(artifact, legacy);
    const stub = agent.state.path(STUB);
    if (await Deno.lstat(stub).then((info) => info.isFile, () => false)) {
      await replaceWithLink(stub, legacy.slice(0, -".smolmachine".length));
    }
    return legacy;
  }

  /** `<state>/snapshots/<id>`: the stub smolvm writes; the artifact is that and `.smolmachine`. */
  #snapshotStub(agent: Agent, id: string): string {
    return agent.state.path(`${SNAPSHOTS}/${id}`);
  }

  /** `cp <artifact> <slug>.smolmachine`. */
  override exportCommand(agent: Agent, artifact: string): string {
    return `cp ${artifact} ${agent.slug}.smolmachine`;
  }
}

export default SmolmachinesFreezer;
