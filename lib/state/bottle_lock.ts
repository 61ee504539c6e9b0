/**
 * One state-changing operation per bottle at a time: an exclusive lock
 * (`flock`) on `.lock` in the bottle's state directory. The kernel releases
 * it when its process dies, however it dies, so a lock never goes stale the
 * way a PID file does.
 *
 * @module
 */

import { setTimeout as sleep } from "node:timers/promises";
import { readFileNoFollow } from "./atomic_write.ts";
import { BottleState, stateRoot } from "./bottle_state.ts";
import { BadInputError, BottleBusyError } from "../errors.ts";

/** The lock file's name in the state directory. */
export const LOCK_FILE = ".lock";

/** How often a waiting process tries the lock again, in milliseconds. */
const RETRY_MS = 100;

/** Options for {@linkcode lockBottle}. */
export interface LockOptions {
  /**
   * Wait while another process holds the lock (default `true`); `false`
   * throws {@linkcode BottleBusyError} at once instead.
   */
  wait?: boolean;
  /** Stops the waiting; its reason is thrown. */
  signal?: AbortSignal;
  /** Receives the one line saying what the process waits for. */
  log?: (line: string) => void;
  /**
   * Take a shared lock, for operations that only read the bottle (export):
   * any number at once, none while a state-changing operation runs.
   */
  shared?: boolean;
  /** Create the state directory (0700) when it does not exist yet (import). */
  create?: boolean;
}

/** What the lock file says of its holder. */
interface Holder {
  pid: number;
  operation: string;
  since: string;
}

/** A held lock; disposing of it releases it. */
export interface BottleLock extends AsyncDisposable {
  /** Releases the lock (also what disposing does); releasing twice is harmless. */
  release(): Promise<void>;
}

/** Options every operation that locks a bottle takes. */
export interface BottleLockOptions {
  /**
   * Wait while another process works on the same bottle (default `true`);
   * `false` fails at once with {@linkcode BottleBusyError}, naming it.
   */
  wait?: boolean;
  /** Receives the line saying which process the operation waits for (default: its `log`). */
  onWait?: (line: string) => void;
}

/**
 * Locks a bottle for one operation. While another process holds the lock,
 * it waits (saying once whom for), or with `wait: false` throws. Different
 * bottles never wait for each other.
 *
 * @param state The bottle's state directory.
 * @param operation What this process does, shown to whoever waits, e.g. `"commit"`.
 * @param options Waiting, sharing and creating the directory.
 * @returns The lock; release it, or dispose of it with `await using`.
 * @throws {BottleBusyError} When another process holds it and `wait` is `false`.
 * @throws {BadInputError} When the bottle has no state directory, or it or
 * its lock file is a symlink.
 *
 * @example
 * ```ts
 * import { BottleState } from "@bot-bottle/bot-bottle";
 * import { lockBottle } from "@bot-bottle/bot-bottle";
 * await using _lock = await lockBottle(new BottleState("dev-abc12"), "commit");
 * ```
 */
export async function lockBottle(
  state: BottleState,
  operation: string,
  options: LockOptions = {},
): Promise<BottleLock> {
  const path = state.path(LOCK_FILE);
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const file = await openLockFile(state, options.create === true);
    const locked = await file.tryLock(!options.shared);
    // A holder removes the file as it lets go: a lock on a removed file locks nothing.
    if (locked && (await isStillAt(file, path))) {
      if (!options.shared) await writeHolder(file, operation);
      return heldLock(file, path, options.shared === true);
    }
    file.close();
    if (locked) continue;
    const holder = await readHolder(path);
    const who = holder
      ? `pid ${holder.pid} is running "${holder.operation}" on it (since ${holder.since})`
      : "another bot-bottle process is working on it";
    if (options.wait === false) {
      throw new BottleBusyError(
        `bottle "${state.slug}" is busy: ${who}; try again when it has finished, or leave out ` +
          `--no-wait to wait for it`,
        state.slug,
        holder && `pid ${holder.pid} running "${holder.operation}"`,
      );
    }
    if (!told) {
      options.log?.(`bottle "${state.slug}" is busy: ${who}; waiting for it to finish`);
      told = true;
    }
    await sleep(RETRY_MS, undefined, { signal: options.signal }).catch(() => {});
  }
}

async function openLockFile(state: BottleState, create: boolean): Promise<Deno.FsFile> {
  const exists = await state.checkDirectory();
  if (!exists && create) {
    await Deno.mkdir(state.dir, { recursive: true, mode: 0o700 });
  } else if (!exists) {
    throw state.noState();
  }
  const path = state.path(LOCK_FILE);
  if ((await Deno.lstat(path).catch(() => undefined))?.isSymlink) {
    throw new BadInputError(
      `${path} is a symlink; bot-bottle does not follow it: remove it (no bot-bottle process ` +
        `keeps one)`,
    );
  }
  try {
    return await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return await openLockFile(state, create);
    throw new BadInputError(
      `cannot lock bottle "${state.slug}": cannot create ${path} (${(error as Error).message}); ` +
        `bot-bottle changes a bottle only with its state directory writable: make it writable`,
      { cause: error },
    );
  }
}

async function isStillAt(file: Deno.FsFile, path: string): Promise<boolean> {
  const [held, named] = await Promise.all([file.stat(), Deno.lstat(path).catch(() => undefined)]);
  return named !== undefined && held.ino === named.ino && held.dev === named.dev;
}

/** Says who holds the lock, for whoever waits; on a full disk it says nothing. */
async function writeHolder(file: Deno.FsFile, operation: string): Promise<void> {
  const holder: Holder = { pid: Deno.pid, operation, since: new Date().toISOString() };
  try {
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
  } catch {
    // Only a courtesy to waiters: the lock holds without it.
  }
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const read = await readFileNoFollow(path, 4096);
    const holder = read && JSON.parse(new TextDecoder().decode(read.data));
    if (typeof holder?.pid === "number" && typeof holder.operation === "string") {
      return { pid: holder.pid, operation: holder.operation, since: String(holder.since) };
    }
  } catch {
    // Gone, empty or being written: the holder is not known.
  }
  return undefined;
}

function heldLock(file: Deno.FsFile, path: string, shared: boolean): BottleLock {
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      // The last holder removes the file; a shared holder only when no other holds it.
      if (!shared || (await file.tryLock(true))) {
        await Deno.remove(path).catch(() => {});
      }
    } finally {
      file.close();
    }
  };
  return { release, [Symbol.asyncDispose]: release };
}

/** What {@linkcode lockSlug} takes from an operation's options. */
export interface LockSlugOptions extends BottleLockOptions {
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
  /** Stops the waiting (e.g. Ctrl-C). */
  signal?: AbortSignal;
  /** Receives the line saying what the operation waits for. */
  log?: (line: string) => void;
}

/**
 * Locks the bottle `slug` for an operation, from that operation's options:
 * the one way every command takes its bottle's lock.
 *
 * @param slug The bottle's slug.
 * @param operation What this process does, e.g. `"commit"`.
 * @param options The operation's options: state root, waiting, signal, log.
 * @param mode A shared lock, or creating the state directory.
 * @returns The held lock.
 * @throws {BottleBusyError} When another process holds it and `wait` is `false`.
 * @throws {BadInputError} When the slug is invalid or the bottle has no state directory.
 */
export async function lockSlug(
  slug: string,
  operation: string,
  options: LockSlugOptions,
  mode: Pick<LockOptions, "shared" | "create"> = {},
): Promise<BottleLock> {
  return await lockState(
    new BottleState(slug, options.root ?? stateRoot()),
    operation,
    options,
    mode,
  );
}

/**
 * {@linkcode lockSlug} for a bottle whose {@linkcode BottleState} the
 * operation already has (so one command works through one).
 *
 * @param state The bottle's state directory.
 * @param operation The operation, for a waiting process's message.
 * @param options How to wait, and where the waiting line goes.
 * @param mode A shared lock, or a state directory to create.
 * @returns The lock.
 */
export async function lockState(
  state: BottleState,
  operation: string,
  options: LockSlugOptions,
  mode: Pick<LockOptions, "shared" | "create"> = {},
): Promise<BottleLock> {
  const log = options.onWait ?? options.log;
  return await lockBottle(state, operation, {
    ...options.wait === undefined ? {} : { wait: options.wait },
    ...options.signal === undefined ? {} : { signal: options.signal },
    ...log === undefined ? {} : { log },
    ...mode,
  });
}
