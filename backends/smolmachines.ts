/**
 * The smolvm freezer: `smolvm pack create` of the bottle's machine into
 * `~/.bot-bottle/state/<slug>/committed-smolmachine.smolmachine` (a disk
 * snapshot), or `smolvm machine checkpoint` into
 * `snapshots/<id>.smolcheckpoint` (a full one: memory and disk). This module
 * is the one the registry names: it has the freezer, and re-exports the
 * backend (`smolmachines_backend.ts`).
 *
 * @module
 */

import type { Agent } from "../lib/state/agent.ts";
import { type FreezeContext, Freezer, type Frozen, type SnapshotMode } from "../lib/freezer.ts";
import { BadInputError } from "../lib/errors.ts";
import { semver } from "../lib/_internal/semver.ts";
import { SmolmachinesBackend } from "./smolmachines_backend.ts";
import {
  CHECKPOINT_FLOOR,
  CHECKPOINT_SUFFIX,
  FLOOR,
  FLOOR_REASON,
  isCheckpoint,
  listMachines,
  PACK_SUFFIX,
  pointAt,
  replaceWithLink,
  sizeOf,
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
 *
 * With `--mode full` it takes a checkpoint instead, with `smolvm machine
 * checkpoint`: the machine's memory, disks and execution state, while it
 * keeps running, so `resume` brings its processes back. Only a running
 * machine started `--branchable`, with nothing bound to the host (mounts,
 * published ports), can be checkpointed; anything else is refused before
 * anything is made.
 */
export class SmolmachinesFreezer extends Freezer<SmolmachinesBackend> {
  /** The backend it snapshots with. */
  static readonly Backend: typeof SmolmachinesBackend = SmolmachinesBackend;
  /** Disk snapshots (packs) and full ones (checkpoints). */
  static override readonly modes: readonly SnapshotMode[] = ["disk", "full"];

  /** Packs the stopped machine (or checkpoints the running one) and moves it into place. */
  protected override async freeze(
    agent: Agent,
    { id, mode, earlier, undo }: FreezeContext,
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
    if (mode === "full") return await this.#checkpoint(agent, id, undo, machine, version);
    // The launcher's names follow the newest pack: a checkpoint since then did not move them.
    const previous = earlier.findLast((artifact) => artifact.endsWith(PACK_SUFFIX));
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
      start: () => this.bottles.startMachine(name, agent, { signal: null }),
      startCommand: this.bottles.startCommandLine(name),
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

  /**
   * `smolvm machine checkpoint` of the running machine into
   * `snapshots/<id>.smolcheckpoint`, through a temporary name renamed into
   * place once smolvm succeeded. The machine keeps running; the launcher's
   * `committed-smolmachine` names stay on the newest pack.
   */
  async #checkpoint(
    agent: Agent,
    id: string,
    undo: AsyncDisposableStack,
    machine: {
      name: string;
      state: string;
      forkable?: boolean | undefined;
      mounts?: number | undefined;
      ports?: number | undefined;
    },
    version: string | undefined,
  ): Promise<Frozen> {
    const { slug } = agent;
    const name = machine.name;
    const disk = "commit it with --mode disk, which works";
    if (version !== undefined && (await semver()).lt(version, CHECKPOINT_FLOOR)) {
      throw new BadInputError(
        `smolvm ${version} cannot snapshot a machine's memory ("smolvm machine checkpoint" ` +
          `came with ${CHECKPOINT_FLOOR}); ${disk}, or upgrade smolvm for --mode full`,
      );
    }
    if (machine.state !== "running") {
      throw new BadInputError(
        `bottle "${slug}" is ${machine.state} on smolvm, so it has no memory to capture; ${disk}`,
      );
    }
    if (machine.forkable === false) {
      throw new BadInputError(
        `bottle "${slug}" was not started branchable (smolvm decides that when a machine ` +
          `starts, and the launcher and older bot-bottle versions start machines without it), ` +
          `so its memory cannot be captured; ${disk}, and starts it again branchable, so that ` +
          `--mode full works after that`,
      );
    }
    const held = [
      ...(machine.mounts ?? 0) > 0 ? [`host mounts (${machine.mounts})`] : [],
      ...(machine.ports ?? 0) > 0 ? [`published ports or sockets (${machine.ports})`] : [],
    ];
    if (held.length > 0) {
      throw new BadInputError(
        `bottle "${slug}" has resources bound to this host, ${held.join(" and ")}, which ` +
          `smolvm's checkpoint does not support, so its memory cannot be captured; ${disk}`,
      );
    }
    const dir = agent.state.path(SNAPSHOTS);
    const artifact = `${dir}/${id}${CHECKPOINT_SUFFIX}`;
    // smolvm wants the name to end in .smolcheckpoint: the temporary one does too.
    const temp = `${dir}/.tmp-${crypto.randomUUID().slice(0, 8)}-${id}${CHECKPOINT_SUFFIX}`;
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      const result = await this.bottles.run("checkpoint", { container: name, path: temp }, agent);
      if (!(await Deno.lstat(temp).then((info) => info.isFile || info.isDirectory, () => false))) {
        throw this.bottles.backendError(
          `"smolvm machine checkpoint" reported success but wrote no ${temp}`,
          "checkpoint",
          result,
        );
      }
      this.bottles.undoSnapshot(undo, agent, artifact);
      await Deno.rename(temp, artifact);
    } finally {
      await Deno.remove(temp, { recursive: true }).catch(() => {});
      // Only when empty: a failed first checkpoint leaves no snapshots directory behind.
      await Deno.remove(dir).catch(() => {});
    }
    return { artifact, current: artifact, sizeBytes: await sizeOf(artifact), warnings: [] };
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

  /** `cp <artifact> <slug>.smolmachine` (`cp -R … <slug>.smolcheckpoint` for a checkpoint). */
  override exportCommand(agent: Agent, artifact: string): string {
    return isCheckpoint(artifact)
      ? `cp -R ${artifact} ${agent.slug}${CHECKPOINT_SUFFIX}`
      : `cp ${artifact} ${agent.slug}${PACK_SUFFIX}`;
  }
}

export default SmolmachinesFreezer;
