// The world of the Apple `container` double (container.ts): what the test
// sets up and what the double changes and records.

/** A user, as `configuration.initProcess.user` encodes it (Swift enum Codable). */
export type FakeUser = { id: { uid: number; gid: number } } | { raw: { userString: string } };

/**
 * A mount, as `configuration.mounts[]` encodes a `Filesystem` (Swift
 * Codable: an enum case without values is `{ "<case>": {} }`). `run`/`create`
 * record `-v`, `--mount` and `--tmpfs` this way:
 * - a bind mount (`-v /host:/guest[:ro]`, `--mount type=bind,...`):
 *   `{ type: { virtiofs: {} }, source: "/abs/host", destination: "/guest", options: ["ro"] }`;
 * - a tmpfs: `{ type: { tmpfs: {} }, source: "tmpfs", destination, options }`;
 * - a named volume (`-v NAME:/guest`): `{ type: { volume: { name, format: "ext4", cache:
 *   { auto: {} }, sync: { full: {} } } }, source: <the double's made-up image path>, ... }`.
 */
export interface FakeMount {
  type:
    | { virtiofs: Record<string, never> }
    | { tmpfs: Record<string, never> }
    | {
      volume: {
        name: string;
        format: string;
        cache: Record<string, Record<string, never>>;
        sync: Record<string, Record<string, never>>;
      };
    };
  /** The absolute host path (bind), `tmpfs`, or the volume's image path. */
  source: string;
  /** The path in the container. */
  destination: string;
  /** Mount options, e.g. `["ro"]`. */
  options: string[];
}

/** A container the double knows. */
export interface FakeContainer {
  /** `configuration.id`, e.g. `bot-bottle-dev-abc12`. */
  id: string;
  /** `unknown`, `stopped`, `running` or `stopping`. */
  state: "unknown" | "stopped" | "running" | "stopping";
  /** Started with `--rm`: deleted when it stops. */
  autoRemove: boolean;
  /** The image reference it was created from. */
  image: string;
  /** `configuration.initProcess`. */
  initProcess: {
    executable: string;
    arguments: string[];
    environment: string[];
    workingDirectory: string;
    terminal: boolean;
    user: FakeUser;
  };
  /** `configuration.platform`. */
  platform: { os: string; architecture: string };
  /** Its root filesystem: relative path (no leading `/`) → file content. */
  files: Record<string, string>;
  /** Optional: `configuration.mounts` (default none). */
  mounts?: FakeMount[];
  /** Optional: `configuration.labels` (default none). */
  labels?: Record<string, string>;
  /**
   * Optional: the networks it is attached to, `configuration.networks[].network`
   * (default none; `run` records `["default"]` when no `--network` is given,
   * `[]` for `--network none`).
   */
  networks?: string[];
  /** Optional: `configuration.resources` (default 4 CPUs, 1 GiB). */
  resources?: { cpus: number; memoryInBytes: number };
}

/** An image in the double's image store. */
export interface FakeImage {
  /** The reference it is stored under, e.g. `bot-bottle-committed-dev-abc12:latest`. */
  reference: string;
  /** Its filesystem: relative path → content. */
  files: Record<string, string>;
  /** The OCI image config (`config` of the config blob). */
  config: {
    Cmd?: string[];
    Entrypoint?: string[];
    Env?: string[];
    WorkingDir?: string;
    User?: string;
    /** Optional: `config.Labels` of the config blob. */
    Labels?: Record<string, string>;
  };
  /** `architecture` and `os` of the config blob. */
  platform: { os: string; architecture: string };
}

/** Everything the `container` double knows. */
export interface ContainerWorld {
  /** The version the CLI reports, e.g. `1.2.1` (`0.10.0`, `0.12.3`, `1.0.0`, …). */
  version: string;
  /**
   * When set, what `container --version` prints instead of the normal line
   * (to test an unparseable version).
   */
  versionOutput?: string;
  /** Whether `container system start` has been run. */
  serviceRunning: boolean;
  containers: FakeContainer[];
  images: FakeImage[];
  /**
   * A command (its first words, e.g. `"export"` or `"image load"`) that
   * fails with the given stderr line and exit status 1, to test backend failures.
   */
  failures?: Record<string, string>;
  /**
   * Milliseconds `export` sleeps before writing its output (to test
   * interrupts). The call is recorded in `calls` (the world written) before
   * the sleep, so a test can wait for it and then interrupt.
   */
  exportDelayMs?: number;
  /**
   * When true, errors read as the real Swift CLI prints a
   * `ContainerizationError`, `<code>: "<message>"` (e.g.
   * `Error: invalidState: "container is not stopped"`), instead of the plain
   * message the facts file gives (`Error: container is not stopped`), so a
   * caller can be tested against both. Default false.
   */
  swiftErrorDescriptions?: boolean;
  /**
   * Optional: named volumes that exist (`container volume create NAME`), for
   * `run -v NAME:/path`. Default none: a named volume is refused with
   * `volume 'NAME' not found`.
   */
  volumes?: string[];
  /**
   * Optional: networks that exist besides `default` (`container network
   * create NAME`), for `run --network NAME`. Default none: any other network
   * is refused with `network NAME not found`.
   */
  networks?: string[];
  /**
   * Optional: registry logins (host → credentials), as `container registry
   * login` keeps them in the keychain; `image push`/`pull` use them.
   */
  logins?: Record<string, { username: string; password: string }>;
  /** Every argv the double was called with, in order (without the `container` word). */
  calls: string[][];
}

/** A world with the service running, version 1.2.1, and nothing in it. */
export function defaultContainerWorld(): ContainerWorld {
  return { version: "1.2.1", serviceRunning: true, containers: [], images: [], calls: [] };
}

/** A running container named `bot-bottle-<slug>` with a marker file. */
export function fakeContainer(slug: string, overrides: Partial<FakeContainer> = {}): FakeContainer {
  return {
    id: `bot-bottle-${slug}`,
    state: "running",
    autoRemove: false,
    image: "docker.io/library/debian:bookworm",
    initProcess: {
      executable: "/bin/sh",
      arguments: ["-c", "sleep infinity"],
      environment: ["PATH=/usr/local/bin:/usr/bin:/bin", "AGENT=claude"],
      workingDirectory: "/work",
      terminal: false,
      user: { raw: { userString: "dev" } },
    },
    platform: { os: "linux", architecture: "arm64" },
    files: { "etc/hostname": `${slug}\n`, "work/notes.txt": "agent work\n" },
    ...overrides,
  };
}
