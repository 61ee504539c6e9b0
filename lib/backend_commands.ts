/**
 * Runs a backend's external commands from its registry templates, through
 * dax, one escaped argument per template element.
 *
 * @module
 */

import { dax } from "./_internal/dax.ts";
import { BackendError, type BackendFailure, BackendUnavailableError } from "./errors.ts";
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
}

/** The command templates of one backend, ready to run. */
export class BackendCommands {
  /** The backend's registry name. */
  readonly backend: string;
  readonly #templates: Readonly<Record<string, Template>>;
  readonly #options: BackendCommandsOptions;

  /**
   * Wraps a backend's templates.
   *
   * @param backend The backend's registry name, used in messages.
   * @param templates The backend's templates, by command name.
   * @param options Hooks.
   */
  constructor(
    backend: string,
    templates: Readonly<Record<string, Template>>,
    options: BackendCommandsOptions = {},
  ) {
    this.backend = backend;
    this.#templates = templates;
    this.#options = options;
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
    if (!this.has(name)) {
      throw new TypeError(`backend "${this.backend}" has no command "${name}"`);
    }
    return renderTemplate(this.#templates[name], values);
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
   * @throws {BackendError} When the command exits non-zero.
   * @throws {BadInputError} When a value is not of its placeholder's kind.
   */
  async run(
    name: string,
    values: TemplateValues = {},
    options: { signal?: AbortSignal | null } = {},
  ): Promise<CommandResult> {
    const argv = this.render(name, values);
    const signal = options.signal === null ? undefined : options.signal ?? this.#options.signal;
    signal?.throwIfAborted();
    this.#options.onRun?.(argv.map(displayArg).join(" "));
    const $ = await dax();
    let command = $`${argv}`.stdin("null").stdout("piped").stderr("piped").noThrow();
    if (signal) command = command.signal(signal);
    const output = await command;
    signal?.throwIfAborted();
    const result = {
      argv,
      exitCode: output.code,
      stdout: output.stdout,
      stderr: output.stderr,
    };
    if (result.exitCode === 0) return result;
    const failure: BackendFailure = { backend: this.backend, command: name, ...result };
    if (result.exitCode === 127 && result.stderr.startsWith(`dax: ${argv[0]}: command not found`)) {
      throw new BackendUnavailableError(
        `"${argv[0]}" is not installed or not on PATH; the "${this.backend}" backend needs ` +
          (this.#options.requires ?? "it"),
        { ...failure, exitCode: undefined },
      );
    }
    throw new BackendError(
      `"${commandLabel(this.#templates[name])}" failed (exit status ${result.exitCode}): ` +
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

function lastLine(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  return lines.at(-1) ?? "";
}

/** Shell-quotes an argument for display, leaving plain words as they are. */
function displayArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
