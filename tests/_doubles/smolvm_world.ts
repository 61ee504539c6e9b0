// The world of the smolvm double (smolvm.ts): what the test sets up and what
// the double changes and records.

/** A smolvm machine the double knows. */
export interface FakeMachine {
  name: string;
  /** `created`, `running`, `stopped`, `failed`, `unreachable` or `frozen`. */
  state: "created" | "running" | "stopped" | "failed" | "unreachable" | "frozen";
  /**
   * What it was created from: a registry image (packing re-pulls it: needs
   * the network), a local image archive or a fork clone (packing is
   * refused), or a `.smolmachine` artifact.
   */
  source: "registry" | "local-archive" | "fork" | "smolmachine";
  /** CPU architecture of its image: `x86_64` or `aarch64`. */
  arch: string;
  /** Its filesystem: relative path → content. */
  files: Record<string, string>;
  /**
   * Optional: its `/workspace` (relative path → content), which lives on the
   * machine's storage disk, not in its root filesystem: it persists across
   * stop and start, and a pack carries it only with `--include-workspace`.
   */
  workspace?: Record<string, string>;
  /** Optional: created with `--net` (default false); a pack records it, `create --from` inherits it. */
  network?: boolean;
  /** Optional: for a fork clone, the machine it was forked from (default `golden`). */
  forkOf?: string;
  /**
   * Optional: the image reference smolvm recorded for it, shown by `machine
   * ls`/`status` and named in pack errors. Defaults by source: registry
   * `docker.io/library/alpine:latest`, local archive `local:<hash>`, none for
   * fork clones and `.smolmachine` machines.
   */
  image?: string;
  /**
   * Optional: started with `--branchable`/`--forkable` (decided at each start;
   * a stop clears it). Only such a machine can be checkpointed.
   */
  branchable?: boolean;
  /**
   * Optional: its memory while it runs (absent when stopped): `bootId` (what
   * `cat /proc/sys/kernel/random/boot_id` prints: new at every fresh boot) and
   * `run` (its tmpfs `/run`, relative path → content). A checkpoint carries
   * it; a stop, a pack and a fresh boot do not.
   */
  memory?: MachineMemory;
  /** Optional: the memory its next start resumes (set by `create --from` a checkpoint). */
  restore?: MachineMemory;
  /** Optional: host mounts (`-v HOST:GUEST`), which a checkpoint refuses. */
  mounts?: string[];
  /** Optional: published sockets, which a checkpoint refuses. */
  publishedSockets?: string[];
}

/** A running machine's memory, as the double models it (see `FakeMachine.memory`). */
export interface MachineMemory {
  bootId: string;
  run: Record<string, string>;
}

/** Everything the `smolvm` double knows. */
export interface SmolvmWorld {
  /** The version it reports, e.g. `1.25.4` (see smolvm.ts for what changes with it). */
  version: string;
  /**
   * Optional: whether `pack create` takes `--include-workspace` (and lists it
   * in `--help`). Default: from 1.22.0 (the first release with it is
   * unverified: after 1.9.3, present by 1.22).
   */
  includeWorkspace?: boolean;
  /** The host's CPU architecture: `x86_64` or `aarch64`. */
  hostArch: string;
  /** Optional: the host's OS, `linux` (default) or `macos` (a checkpoint records `<os>/<arch>`). */
  hostOs?: "linux" | "macos";
  /**
   * Optional: registry logins (host → credentials), as `docker login` leaves
   * them in the docker config that smolvm reads (src/registry.rs).
   */
  logins?: Record<string, { username: string; password: string }>;
  /** Whether registries can be reached (packing a registry-image machine needs it up to 1.16.0). */
  network: boolean;
  machines: FakeMachine[];
  /**
   * A command (its first words, e.g. `"pack create"`) that fails with the
   * given stderr line and exit status 1.
   */
  failures?: Record<string, string>;
  /**
   * Milliseconds `pack create` sleeps before writing its output (to test
   * interrupts). The call is recorded in `calls` (the world written) before
   * the sleep, so a test can wait for it and then interrupt.
   */
  packDelayMs?: number;
  /**
   * Milliseconds `machine checkpoint` waits, with a partial file already at
   * its output, before it writes the checkpoint (to test interrupts). The
   * call is recorded first, as for `packDelayMs`.
   */
  checkpointDelayMs?: number;
  /** Every argv the double was called with, in order (without the `smolvm` word). */
  calls: string[][];
}

/** A world with version 1.25.4 on x86_64, network up, no machines. */
export function defaultSmolvmWorld(): SmolvmWorld {
  return { version: "1.25.4", hostArch: "x86_64", network: true, machines: [], calls: [] };
}

/**
 * A running machine `bot-bottle-<slug>` created from a registry image with
 * `--net`, with a marker file in its root filesystem and one in `/workspace`.
 */
export function fakeMachine(slug: string, overrides: Partial<FakeMachine> = {}): FakeMachine {
  return {
    name: `bot-bottle-${slug}`,
    state: "running",
    source: "registry",
    arch: "x86_64",
    files: { "etc/hostname": `${slug}\n`, "work/notes.txt": "agent work\n" },
    workspace: { "plan.md": "the agent's plan\n" },
    network: true,
    ...overrides,
  };
}
