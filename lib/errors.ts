/**
 * The errors bot-bottle throws for callers to catch. Programming mistakes use
 * the built-in classes (`TypeError`, `RangeError`); everything a user or an
 * orchestrator is expected to handle is one of these.
 *
 * @module
 */

/** Base class of every error bot-bottle expects callers to handle. */
export class BotBottleError extends Error {
  /**
   * Makes the error.
   *
   * @param message What went wrong and what to do next, lower-case, no trailing period.
   * @param options The underlying error, as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    // Set once, here: every subclass is named after its class.
    this.name = new.target.name;
  }
}

/**
 * The command line was used wrongly: an unknown command or flag, a missing
 * argument. The CLI exits with status 2.
 */
export class UsageError extends BotBottleError {
  /**
   * Makes the error.
   *
   * @param message What went wrong and what to do next, lower-case, no trailing period.
   * @param options The underlying error, as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * An input is not acceptable: a slug that breaks the slug rule, a bottle with
 * no state, a corrupt `metadata.json`, an invalid registry. Nothing was
 * changed when this is thrown.
 */
export class BadInputError extends BotBottleError {
  /**
   * Makes the error.
   *
   * @param message What went wrong and what to do next, lower-case, no trailing period.
   * @param options The underlying error, as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** What a failed backend command reported. */
export interface BackendFailure {
  /** The registry name of the backend, e.g. `"docker"`. */
  backend: string;
  /** The registry name of the command template, e.g. `"commit"`. */
  command: string;
  /** The exact arguments that were run, executable first. */
  argv: string[];
  /** The exit status, or `undefined` when the command could not be started. */
  exitCode?: number;
  /** What the command printed on standard output. */
  stdout: string;
  /** What the command printed on standard error. */
  stderr: string;
}

/**
 * A backend's external command failed, or the backend cannot be reached.
 * Carries the argv, exit code and output so `--verbose` can show them.
 */
export class BackendError extends BotBottleError implements BackendFailure {
  /** The registry name of the backend. */
  backend: string;
  /** The registry name of the command template. */
  command: string;
  /** The exact arguments that were run. */
  argv: string[];
  /** The exit status, or `undefined` when the command could not be started. */
  exitCode?: number;
  /** What the command printed on standard output. */
  stdout: string;
  /** What the command printed on standard error. */
  stderr: string;

  /**
   * Makes the error from what the failed command reported.
   *
   * @param message One line: the command that failed and the backend's own words.
   * @param failure The argv, exit status and output.
   * @param options The underlying error, as `cause`.
   */
  constructor(message: string, failure: BackendFailure, options?: ErrorOptions) {
    super(message, options);
    this.backend = failure.backend;
    this.command = failure.command;
    this.argv = failure.argv;
    if (failure.exitCode !== undefined) this.exitCode = failure.exitCode;
    this.stdout = failure.stdout;
    this.stderr = failure.stderr;
  }
}

/**
 * The backend's tool is not installed, or its engine or service is not
 * running. A subclass of {@linkcode BackendError}, so listings can show such a
 * backend as unavailable instead of failing.
 */
export class BackendUnavailableError extends BackendError {
  /**
   * Makes the error from what the failed command reported.
   *
   * @param message One line: the command that failed and the backend's own words.
   * @param failure The argv, exit status and output.
   * @param options The underlying error, as `cause`.
   */
  constructor(message: string, failure: BackendFailure, options?: ErrorOptions) {
    super(message, failure, options);
  }
}

/** Why a push or a pull failed at the registry, as {@linkcode RegistryAccessError} tells. */
export type RegistryFailureKind =
  | "unreachable"
  | "unauthorized"
  | "untrusted"
  | "unknown"
  | "corrupt";

/**
 * A push or a pull failed at the registry: it cannot be reached, wants a
 * login, has a certificate not trusted here, has no such tag, or sent what
 * does not match its digest. A subclass of {@linkcode BackendError}: the
 * backend command's argv and output are kept for `--verbose`.
 */
export class RegistryAccessError extends BackendError {
  /** Which failure it is. */
  kind: RegistryFailureKind;
  /** The registry, `host[:port]`. */
  host: string;

  /**
   * Makes the error.
   *
   * @param message One line: the registry, what failed, the next step.
   * @param kind Which failure it is.
   * @param host The registry.
   * @param failure The argv, exit status and output.
   * @param options The underlying error, as `cause`.
   */
  constructor(
    message: string,
    kind: RegistryFailureKind,
    host: string,
    failure: BackendFailure,
    options?: ErrorOptions,
  ) {
    super(message, failure, options);
    this.kind = kind;
    this.host = host;
  }
}

/**
 * A backend command did not finish within its timeout and was stopped (a
 * hung engine, a stuck VM). A subclass of {@linkcode BackendError}; `exitCode`
 * is `undefined`.
 */
export class BackendTimeoutError extends BackendError {
  /** The timeout that ran out, in milliseconds. */
  timeoutMs: number;

  /**
   * Makes the error.
   *
   * @param message One line: the command, the time it was given, what to do.
   * @param failure The argv and whatever output it gave before it was stopped.
   * @param timeoutMs The timeout, in milliseconds.
   */
  constructor(message: string, failure: BackendFailure, timeoutMs: number) {
    super(message, failure);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Another process holds the bottle's lock (it is committing, resuming,
 * pruning, importing or destroying it), and waiting was not allowed.
 * Nothing was changed.
 */
export class BottleBusyError extends BotBottleError {
  /** The bottle's slug. */
  slug: string;
  /** What the lock file says of its holder, e.g. `pid 4242 running "commit"`, when it says. */
  holder?: string;

  /**
   * Makes the error.
   *
   * @param message The line the CLI prints.
   * @param slug The bottle's slug.
   * @param holder What the lock file says of its holder.
   */
  constructor(message: string, slug: string, holder?: string) {
    super(message);
    this.slug = slug;
    if (holder !== undefined) this.holder = holder;
  }
}

/**
 * The user declined a confirmation (resume replacing a running bottle,
 * destroy). Nothing was changed; the CLI prints one line and exits with
 * status 0.
 */
export class Cancelled extends BotBottleError {
  /**
   * Makes the error.
   *
   * @param message The line the CLI prints.
   * @param options The underlying error, as `cause`.
   */
  constructor(message = "cancelled; nothing was changed", options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The user declined a confirmation a commit needs. Nothing was written; the
 * CLI prints one line and exits with status 0.
 */
export class CommitCancelled extends Cancelled {
  /**
   * Makes the error.
   *
   * @param message The line the CLI prints.
   * @param options The underlying error, as `cause`.
   */
  constructor(message = "commit cancelled; nothing was changed", options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The user interrupted the operation (Ctrl-C, SIGTERM). Temporary files were
 * removed and nothing half-made was recorded; the CLI exits with 130 for
 * SIGINT and 143 for SIGTERM.
 */
export class Interrupted extends BotBottleError {
  /** The signal that interrupted it. */
  signal: "SIGINT" | "SIGTERM";

  /**
   * Makes the error.
   *
   * @param signal The signal received.
   * @param options The underlying error, as `cause`.
   */
  constructor(signal: "SIGINT" | "SIGTERM", options?: ErrorOptions) {
    super(`interrupted by ${signal}; nothing was recorded`, options);
    this.signal = signal;
  }
}
