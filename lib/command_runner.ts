/**
 * What every backend's commands share: the registry's templates run with
 * failures explained in the user's terms, undo steps that run even after an
 * interrupt, and a bottle stopped only after asking. The base of
 * {@linkcode Backend}.
 *
 * @module
 */

import type { Agent } from "./state/agent.ts";
import type { BackendCommands, CommandResult } from "./registry/backend_commands.ts";
import { BackendError, CommitCancelled } from "./errors.ts";
import { type Prompter, terminalPrompter } from "./prompter.ts";
import type { Engine, OciWording } from "./registry/registry_schema.ts";
import { nameFor, type Naming, namingOf, slugIn } from "./registry/naming.ts";
import type { TemplateValues } from "./registry/template.ts";

/** Options every backend (and freezer) takes. */
export interface BackendOptions {
  /** Receives progress and hint lines meant for the user (default: dropped). */
  log?: (line: string) => void;
  /** Asks confirmations (default: none can be asked, so a needed confirmation is an error). */
  prompter?: Prompter;
  /**
   * Start a bottle again after it was stopped for its snapshot (default
   * `true`; the CLI's `--no-restart` sets `false`).
   */
  restart?: boolean;
}

/** How a backend stops and starts its bottle, for {@linkcode Backend.whileStopped}. */
export interface StopSpec {
  /** Whether the bottle is running now (if not, nothing is stopped or asked). */
  running: boolean;
  /** What stopping costs beyond ending the agent's session, one clause each. */
  consequences?: string[];
  /** Stops it. */
  stop(): Promise<unknown>;
  /** Starts it again; runs even after an interrupt. */
  start(): Promise<unknown>;
  /** The command a user runs to start it by hand, for messages. */
  startCommand: string;
}

/** The registry entry a backend is built from. */
export interface BackendSpec {
  /** The backend's registry name. */
  backend: string;
  /** Every `backend` metadata value that means this backend (its name and its aliases). */
  names: readonly string[];
  /** The backend's command templates. */
  commands: BackendCommands;
  /** Its engine's wording, when the registry declares it. */
  engine?: Engine;
  /** The wording of its registry failures (push, pull), when the registry declares it. */
  oci?: OciWording;
  /** The names it gives its bottles and snapshots (default: the built-in ones). */
  naming?: Naming;
}

/** Runs a backend's commands; {@linkcode Backend} adds what the backend does with them. */
export abstract class CommandRunner {
  /** The backend's registry name. */
  readonly name: string;
  /** Every `backend` metadata value this backend serves. */
  readonly names: readonly string[];
  /** The backend's command templates. */
  readonly commands: BackendCommands;
  /** The names it gives its bottles and snapshots, from its registry entry. */
  readonly naming: Naming;
  /** Where user-facing lines go. */
  readonly log: (line: string) => void;
  /** Asks the user; throws when a backend needs a confirmation and none can be asked. */
  protected readonly prompter: Prompter;
  /** Whether to start a bottle again after stopping it for a snapshot. */
  protected readonly restart: boolean;
  /** The wording of its registry failures (push, pull), when the registry declares it. */
  readonly oci: OciWording | undefined;
  /** Set while undo steps run: their commands run even after an interrupt. */
  #unwinding = false;

  /**
   * Builds the backend from its registry entry; {@linkcode Registry.getBackend} calls this.
   *
   * @param spec The backend's registry entry: name, aliases and command templates.
   * @param options Where user-facing lines go, and how to ask the user.
   */
  constructor(spec: BackendSpec, options: BackendOptions = {}) {
    this.name = spec.backend;
    this.names = spec.names;
    this.commands = spec.commands;
    this.oci = spec.oci;
    this.naming = spec.naming ?? namingOf();
    this.log = options.log ?? (() => {});
    this.prompter = options.prompter ?? terminalPrompter({ interactive: false });
    this.restart = options.restart ?? true;
  }

  /**
   * Explains a failed command in the user's terms, e.g. a missing container
   * or an engine that is not running. The default keeps the error as it is.
   *
   * @param error The failure.
   * @param agent The bottle the command was about, if any.
   * @returns The error to throw instead.
   */
  protected explainFailure(error: BackendError, _agent?: Agent): BackendError {
    return error;
  }

  /**
   * Runs `snapshot` with the bottle stopped, for backends that cannot
   * snapshot a running bottle. A running bottle is stopped only after the
   * user agreed to a prompt naming the consequences; afterwards it is started
   * again (unless `restart` is off, or it was interrupted), and the log says
   * which state it was left in.
   *
   * @param agent The bottle.
   * @param spec Whether it runs, and how to stop and start it.
   * @param snapshot The work to do while it is stopped.
   * @returns What `snapshot` returned.
   * @throws {CommitCancelled} When the user declined; nothing was stopped.
   */
  async whileStopped<T>(
    agent: Agent,
    spec: StopSpec,
    snapshot: () => Promise<T>,
  ): Promise<T> {
    if (!spec.running) return await snapshot();
    const consequences = ["stopping it ends the agent's session", ...spec.consequences ?? []];
    const question = `bottle "${agent.slug}" is running and must be stopped to snapshot it ` +
      `(${consequences.join("; ")}); stop it now?`;
    const action = `committing bottle "${agent.slug}" stops it first, ending the agent's session`;
    if (!(await this.prompter.confirm(question, action))) {
      throw new CommitCancelled(
        `commit cancelled; bottle "${agent.slug}" is still running and nothing was changed`,
      );
    }
    await spec.stop();
    this.log(`stopped bottle "${agent.slug}" for its snapshot`);
    try {
      return await snapshot();
    } finally {
      await this.#startAgain(agent, spec);
    }
  }

  async #startAgain(agent: Agent, spec: StopSpec): Promise<void> {
    if (!this.restart) {
      this.log(`bottle "${agent.slug}" was left stopped; start it with: ${spec.startCommand}`);
      return;
    }
    try {
      await spec.start();
      this.log(`started bottle "${agent.slug}" again`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.log(
        `warning: bottle "${agent.slug}" was left stopped: starting it again failed (${reason}); ` +
          `start it with: ${spec.startCommand}`,
      );
    }
  }

  /**
   * Adds an undo step to a freeze's {@linkcode FreezeContext.undo}: when it
   * runs and fails, a warning says what was left behind and how to remove it.
   *
   * @param undo The freeze's undo steps.
   * @param leftBehind What stays if the step fails, e.g. `the image x:1`.
   * @param fix The command or action that removes it by hand.
   * @param step The step.
   */
  deferUndo(
    undo: AsyncDisposableStack,
    leftBehind: string,
    fix: string,
    step: () => Promise<unknown>,
  ): void {
    undo.defer(async () => {
      try {
        await step();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.log(`warning: could not undo ${leftBehind} (${reason}); ${fix}`);
      }
    });
  }

  /**
   * Runs clean-up work after a failure or an interrupt: the backend commands
   * it runs are not stopped by the interrupt (they still have their timeout).
   *
   * @param work The clean-up, e.g. removing a half-started bottle.
   * @returns What `work` returned.
   */
  async cleanup<T>(work: () => Promise<T>): Promise<T> {
    const was = this.#unwinding;
    this.#unwinding = true;
    try {
      return await work();
    } finally {
      this.#unwinding = was;
    }
  }

  /**
   * Runs the undo steps a freeze or an import registered, as clean-up (see
   * {@linkcode Backend.cleanup}).
   *
   * @param undo The steps.
   */
  async unwind(undo: AsyncDisposableStack): Promise<void> {
    await this.cleanup(() => undo.disposeAsync());
  }

  /**
   * A {@linkcode BackendError} for something a command's output showed,
   * rather than its exit status: a missing bottle, a state that cannot be
   * snapshotted, output that cannot be read.
   *
   * @param message The message.
   * @param command The registry command whose output showed it.
   * @param result That command's result, when there is one.
   */
  backendError(message: string, command: string, result?: CommandResult): BackendError {
    return new BackendError(message, {
      backend: this.name,
      command,
      argv: result?.argv ?? [],
      ...result === undefined ? {} : { exitCode: result.exitCode },
      stdout: result?.stdout ?? "",
      stderr: result?.stderr ?? "",
    });
  }

  /**
   * Runs one of the backend's commands, explaining failures.
   *
   * @param name The command's name in the registry.
   * @param values The placeholder values.
   * @param agent The bottle the command is about, for messages.
   * @param options `signal: null` runs it even after an interrupt.
   */
  async run(
    name: string,
    values: TemplateValues,
    agent?: Agent,
    options: { signal?: AbortSignal | null } = {},
  ): Promise<CommandResult> {
    return await this.runPiped([name], values, agent, options);
  }

  /**
   * Runs the backend's commands as a pipeline (see
   * {@linkcode BackendCommands.runPiped}), explaining failures.
   *
   * @param names The commands' names in the registry, first to last.
   * @param values The placeholder values, shared by all of them.
   * @param agent The bottle the commands are about, for messages.
   * @param options `signal: null` runs them even after an interrupt.
   */
  async runPiped(
    names: readonly [string, ...string[]],
    values: TemplateValues,
    agent?: Agent,
    options: { signal?: AbortSignal | null } = {},
  ): Promise<CommandResult> {
    try {
      return await this.commands.runPiped(
        names,
        values,
        this.#unwinding ? { signal: null } : options,
      );
    } catch (error) {
      if (error instanceof BackendError) throw this.explainFailure(error, agent);
      throw error;
    }
  }

  /** The backend's name for the running bottle, from its naming: `bot-bottle-<slug>` by default. */
  bottleName(slug: string): string {
    return nameFor(this.naming.bottle, slug);
  }

  /**
   * The slug in a bottle's name, the reverse of {@linkcode CommandRunner.bottleName}.
   *
   * @param name A container's or machine's name.
   * @returns The part that stands for the slug, or `undefined` when the name is not of the form.
   */
  slugOfBottle(name: string): string | undefined {
    return slugIn(this.naming.bottle, name);
  }
}
