/**
 * Runs a backend's external commands from its registry templates, through
 * dax, one escaped argument per template element.
 *
 * @module
 */

import { dax } from "../_internal/dax.ts";
import {
  BackendError,
  type BackendFailure,
  BackendTimeoutError,
  BackendUnavailableError,
  BadInputError,
} from "../errors.ts";
import { renderTemplate, type Template, type TemplateValues } from "./template.ts";

/** What a finished command reported. */
export interface CommandResult {
  /** The exact arguments that ran, executable first. */
  argv: string[];
  /** The exit status. */
  exitCode: number;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/** Options for {@linkcode BackendCommands}. */
export interface BackendCommandsOptions {
  /** What the backend needs installed, for the message when its tool is missing. */
  requires?: string;
  /** Called with every command, shell-quoted for display, before it runs (for `--verbose`). */
  onRun?: (command: string) => void;
  /**
   * Aborts the running command (it is killed) and every later one; the
   * signal's reason, e.g. an {@linkcode Interrupted}, is what `run` throws.
   */
  signal?: AbortSignal;
  /**
   * How long a command may run before it is stopped, in milliseconds
   * (default {@linkcode commandTimeouts}: `BOT_BOTTLE_TIMEOUT`, else 120 s).
   */
  timeoutMs?: number;
  /**
   * The same for the commands in `longRunning`, which copy a whole snapshot
   * (default: `BOT_BOTTLE_LONG_TIMEOUT`, else 2 h).
   */
  longTimeoutMs?: number;
  /** The commands that get the long timeout (the registry's `longRunning`). */
  longRunning?: readonly string[];
}

/** The default timeout of a backend command, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 120;
/** The default timeout of a command that copies a whole snapshot, in seconds. */
export const DEFAULT_LONG_TIMEOUT_SECONDS = 7200;

/**
 * The timeouts of backend commands, from `BOT_BOTTLE_TIMEOUT` and
 * `BOT_BOTTLE_LONG_TIMEOUT` (whole seconds, or the defaults).
 *
 * @param env The environment to read (default: the process's).
 * @returns Both timeouts, in milliseconds.
 * @throws {BadInputError} When a variable is not a whole number of seconds of at least 1.
 */
export function commandTimeouts(
  env: Pick<Deno.Env, "get"> = Deno.env,
): { timeoutMs: number; longTimeoutMs: number } {
  const seconds = (name: string, fallback: number): number => {
    const value = env.get(name);
    if (value === undefined || value === "") return fallback;
    if (!/^\d+$/.test(value) || Number(value) < 1) {
      throw new BadInputError(
        `${name} must be a whole number of seconds of at least 1, not ${JSON.stringify(value)}`,
      );
    }
    return Number(value);
  };
  return {
    timeoutMs: seconds("BOT_BOTTLE_TIMEOUT", DEFAULT_TIMEOUT_SECONDS) * 1000,
    longTimeoutMs: seconds("BOT_BOTTLE_LONG_TIMEOUT", DEFAULT_LONG_TIMEOUT_SECONDS) * 1000,
  };
}

/** The command templates of one backend, ready to run. */
export class BackendCommands {
  /** The backend's registry name. */
  readonly backend: string;
  readonly #templates: Readonly<Record<string, Template>>;
  readonly #options: BackendCommandsOptions;
  readonly #timeouts: { timeoutMs: number; longTimeoutMs: number };

  /**
   * Wraps a backend's templates.
   *
   * @param backend The backend's registry name, used in messages.
   * @param templates The backend's templates, by command name.
   * @param options Hooks and timeouts.
   * @throws {BadInputError} When a timeout variable is not a number of seconds.
   */
  constructor(
    backend: string,
    templates: Readonly<Record<string, Template>>,
    options: BackendCommandsOptions = {},
  ) {
    this.backend = backend;
    this.#templates = templates;
    this.#options = options;
    const fromEnv = options.timeoutMs !== undefined && options.longTimeoutMs !== undefined
      ? undefined
      : commandTimeouts();
    this.#timeouts = {
      timeoutMs: options.timeoutMs ?? fromEnv!.timeoutMs,
      longTimeoutMs: options.longTimeoutMs ?? fromEnv!.longTimeoutMs,
    };
  }

  /** The words that name the command `name` in messages, e.g. `docker container inspect`. */
  label(name: string): string {
    return commandLabel(this.#templates[name] ?? [name]);
  }

  /** Tells whether the backend declares the command `name`. */
  has(name: string): boolean {
    return Object.hasOwn(this.#templates, name);
  }

  /**
   * Renders the template `name` with `values`.
   *
   * @throws {TypeError} When the backend has no such command.
   * @throws {BadInputError} When a value is not of its placeholder's kind.
   */
  render(name: string, values: TemplateValues = {}): string[] {
    const template = this.has(name) ? this.#templates[name] : undefined;
    if (template === undefined) {
      throw new TypeError(`backend "${this.backend}" has no command "${name}"`);
    }
    return renderTemplate(template, values);
  }

  /**
   * Runs the command `name` and waits for it, capturing its output.
   *
   * @param name The command's name in the registry, e.g. `"commit"`.
   * @param values The placeholder values.
   * @param options `signal: null` runs it even after the abort signal fired
   * (to put a bottle back as it was).
   * @returns The result of a command that exited 0.
   * @throws {BackendUnavailableError} When the executable is not installed.
   * @throws {BackendTimeoutError} When it ran longer than its timeout (it was stopped).
   * @throws {BackendError} When the command exits non-zero.
   * @throws {BadInputError} When a value is not of its placeholder's kind.
   */
  async run(
    name: string,
    values: TemplateValues = {},
    options: { signal?: AbortSignal | null } = {},
  ): Promise<CommandResult> {
    return await this.runPiped([name], values, options);
  }

  /**
   * Runs the command `name` attached to this process's standard input,
   * output and error, with no timeout (it is interactive: a shell in a
   * bottle), and waits for it.
   *
   * @param name The command's name in the registry, e.g. `"exec"`.
   * @param values The placeholder values.
   * @returns Its exit status, whatever it is.
   * @throws {BadInputError} When a value is not of its placeholder's kind.
   */
  async runAttached(name: string, values: TemplateValues = {}): Promise<number> {
    const argv = this.render(name, values);
    this.#options.onRun?.(argv.map(displayArg).join(" "));
    const $ = await dax();
    const output = await $`${argv}`.stdin("inherit").stdout("inherit").stderr("inherit")
      .noThrow();
    return output.code;
  }

  /**
   * Runs commands as a pipeline, each one's standard output into the next
   * one's standard input (e.g. `docker export` into `docker import`), and
   * waits for all of them. The pipeline fails when any command fails, and
   * gets the longest timeout of its commands.
   *
   * @param names The commands' names in the registry, first to last.
   * @param values The placeholder values, shared by all of them.
   * @param options `signal: null` runs them even after the abort signal fired.
   * @returns The result: the last command's output and argv. On failure the
   * error's `command` names them all, joined by ` | `.
   * @throws {BackendUnavailableError} When an executable is not installed.
   * @throws {BackendTimeoutError} When they ran longer than the timeout (they were stopped).
   * @throws {BackendError} When a command exits non-zero.
   * @throws {BadInputError} When a value is not of its placeholder's kind.
   */
  async runPiped(
    names: readonly [string, ...string[]],
    values: TemplateValues = {},
    options: { signal?: AbortSignal | null } = {},
  ): Promise<CommandResult> {
    const argvs = names.map((name) => this.render(name, values));
    const signal = options.signal === null ? undefined : options.signal ?? this.#options.signal;
    signal?.throwIfAborted();
    this.#options.onRun?.(argvs.map((argv) => argv.map(displayArg).join(" ")).join(" | "));
    const long = names.some((name) => this.#options.longRunning?.includes(name));
    const timeoutMs = long ? this.#timeouts.longTimeoutMs : this.#timeouts.timeoutMs;
    const timer = AbortSignal.timeout(timeoutMs);
    const $ = await dax();
    const killer = signal ? AbortSignal.any([signal, timer]) : timer;
    const children: ReturnType<ReturnType<typeof $>["spawn"]>[] = [];
    for (const argv of argvs) {
      const stdin = children.at(-1)?.stdout() ?? "null";
      children.push(
        $`${argv}`.stdin(stdin).stdout("piped").stderr("piped").noThrow().signal(killer).spawn(),
      );
    }
    const outputs = await Promise.all(children);
    // The first command that failed is the one to report (its successors saw a cut-off input).
    const failed = outputs.findIndex((output) => output.code !== 0);
    const index = failed === -1 ? outputs.length - 1 : failed;
    const output = outputs[index];
    const argv = argvs[index];
    if (output === undefined || argv === undefined) throw new TypeError("no command was run");
    signal?.throwIfAborted();
    const name = names.join(" | ");
    const label = names.map((name) => this.label(name)).join(" | ");
    const streamed = index !== outputs.length - 1; // its stdout went to the next command
    const result: CommandResult = {
      argv,
      exitCode: output.code,
      stdout: streamed ? "" : output.stdout,
      stderr: output.stderr,
    };
    const failure: BackendFailure = { backend: this.backend, command: name, ...result };
    // What a failure says when the command's exit status is not its own.
    const { exitCode: _exitCode, ...noExitCode } = failure;
    if (timer.aborted) {
      throw new BackendTimeoutError(
        `"${label}" did not finish within ${seconds(timeoutMs)} and was stopped; the ` +
          `${this.backend} backend may be hung or overloaded: check it, or allow more time ` +
          `with ${long ? "BOT_BOTTLE_LONG_TIMEOUT" : "BOT_BOTTLE_TIMEOUT"}=<seconds>`,
        noExitCode,
        timeoutMs,
      );
    }
    if (result.exitCode === 0) return result;
    const missing = argvs.find((argv) =>
      output.stderr.includes(`dax: ${argv[0]}: command not found`)
    );
    if (result.exitCode === 127 && missing) {
      throw new BackendUnavailableError(
        `"${missing[0]}" is not installed or not on PATH; the "${this.backend}" backend needs ` +
          (this.#options.requires ?? "it"),
        { ...noExitCode, argv: missing },
      );
    }
    throw new BackendError(
      `"${label}" failed (exit status ${result.exitCode}): ` +
        (lastLine(result.stderr) || lastLine(result.stdout) || "no output"),
      failure,
    );
  }
}

/**
 * The words that name a command in messages: the executable and its leading
 * subcommands, e.g. `docker commit` or `smolvm pack create`.
 *
 * @param template The command's template.
 * @returns At most three leading words, stopping at the first option or placeholder.
 */
export function commandLabel(template: Template): string {
  const words = [template[0]];
  for (const word of template.slice(1, 3)) {
    if (!/^[a-z][a-z-]*$/.test(word)) break;
    words.push(word);
  }
  return words.join(" ");
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * The last line of a command's output that says something: CLIs such as
 * docker end an error with a pointer to their help (`See 'docker run --help'.`,
 * `Run 'docker run --help' for more information`), which is not the reason.
 */
function lastLine(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter((line) =>
    line !== "" && !/^(?:See|Run) '[^']*--help'/.test(line)
  );
  return lines.at(-1) ?? "";
}

/** Shell-quotes an argument for display, leaving plain words as they are. */
function displayArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
