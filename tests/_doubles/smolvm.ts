// The `smolvm` test double: an executable (installed on PATH by harness.ts)
// that behaves as the smolvm CLI is documented to behave (the "smolvm"
// section of /work/shared/backend-cli-facts.md, "facts" below), over the
// world file named by BOT_BOTTLE_DOUBLE_WORLD (see smolvm_world.ts). It
// defaults to smolvm 1.25.4; the world's `version` brings older behaviour
// back. Sources: facts; smol-machines/smolvm at v1.9.3 and later commits
// ("src" below: src/cli/pack.rs, src/cli/machine.rs, src/config.rs,
// src/pack_export.rs, src/data/image_source.rs, src/data/errors.rs).
//
// Conventions it reproduces: runtime errors are `Error: <message>` on stderr
// with exit status 1, the message `<kind> operation failed: <operation>:
// <reason>` (src/data/errors.rs); argument errors are clap's (`error: …`,
// `Usage: …`, exit status 2); `--help` prints the usage and every option
// (clap). Commands it simulates:
//
//   smolvm --version                                 `smolvm X.Y.Z` (facts)
//   smolvm machine ls [--json]                       (alias: list)
//   smolvm machine status [--name NAME] [--json]
//   smolvm machine start [--name NAME] [--branchable | --forkable]
//   smolvm machine stop [--name NAME]
//   smolvm machine create --name NEW (--from FILE.smolmachine | --image IMAGE) [--net]
//   smolvm machine create --name NEW --from CKPT [--at ~N]        (from 1.10.0)
//   smolvm machine delete --name NAME [-f]           (alias: rm)
//   smolvm machine exec --name NAME [-i] [-t] [-e K=V] [-w DIR] [--timeout D] -- CMD…
//   smolvm machine checkpoint --name NAME -o CKPT [--store DIR] [--history N] (from 1.10.0)
//   smolvm machine checkpoint-log CKPT                            (from 1.10.0)
//   smolvm pack create --from-vm NAME [--include-workspace] -o OUT
//   smolvm pack push REF -f FILE.smolmachine
//   smolvm pack pull REF [-o FILE]
//
// Behaviour, and where it comes from:
// - `start`, `stop` and `status` act on the machine named `default` when
//   `--name` is absent (facts). `create` and `delete` take the name as a
//   positional argument before 1.0.2, as `--name` from 1.0.2 (facts).
// - `machine ls --json`: an array (`[]` when none), keys in alphabetical
//   order, a subset of the real ones: `cpus`, `forkable`, `image`,
//   `memory_mib`, `mounts` and `ports` (counts), `name`, `network`, `pid`,
//   `state` (facts).
// - stop of a stopped machine succeeds saying it is not running; missing
//   machines: `vm not found: NAME` (facts).
// - `machine create --image`: `-`, a path or an archive name is local, all
//   else a registry reference (src/data/image_source.rs). A registry image
//   without `--net` is refused from 1.7.3 with src/config.rs's words; before
//   1.7.3 it is created and its first `start` fails pulling the image (facts;
//   that DNS error's text is the double's own). The machine records `--net`.
// - `/workspace` is the machine's storage disk (`FakeMachine.workspace`),
//   apart from the root filesystem (`files`); it survives stop and start
//   (facts, src/pack_export.rs).
// - `pack create --from-vm`: refuses `-o` ending in `.smolmachine` from
//   1.7.0 (src/cli/pack.rs); a running/frozen, missing, unreachable or
//   failed machine (facts, src); a machine never started ("has no storage
//   disk yet", src/pack_export.rs); a local-archive machine; a fork clone up
//   to 1.16.0 (src/pack_export.rs), and up to 1.16.0 a registry machine
//   re-pulls its image, failing without network (facts). The artifact is a
//   tar of `manifest.json` (`arch`, `network`), `rootfs/` and, only with
//   `--include-workspace`, `workspace/`. `--include-workspace` exists (and
//   `--help` lists it) from 1.22.0 or as the world's `includeWorkspace` says:
//   the first release with it is unverified (facts); elsewhere clap refuses it.
// - `machine create --from`: a missing file, an artifact for another CPU
//   architecture (facts, src); the new machine gets the pack's root
//   filesystem, its `/workspace` (empty without one) and its network setting.
// - `machine delete` without `-f` stops the machine, asks, and on no answer
//   prints `Cancelled` and exits 0 (facts).
// - Memory (`FakeMachine.memory`): every fresh start boots with a new boot id
//   and an empty tmpfs `/run`; a stop loses both. `machine exec` reads and
//   writes the machine through `cat PATH…` and `-i … tee PATH`
//   (`/proc/sys/kernel/random/boot_id` and `/run/…` are memory, `/workspace/…`
//   the storage disk, the rest the root filesystem), so a test tells a resumed
//   checkpoint (same boot id, `/run` kept) from a fresh boot. A stopped
//   machine is refused with the facts' words (`machine 'NAME' is not
//   running. Use 'smolvm machine start --name NAME' first.`).
// - `machine start --forkable` (every version: src/cli/machine.rs at v1.0.1 to
//   v1.9.3) and its new name `--branchable` (from 1.10.0, with checkpoints;
//   before, clap refuses it) make the machine branchable, decided at start
//   (facts): a stop clears it.
// - `machine checkpoint` (facts; from 1.10.0, "about 1.10" there — before,
//   clap's `unrecognized subcommand 'checkpoint'`): `-o` must end in
//   `.smolcheckpoint`, from 1.19.1 also `.checkpoint` (facts; the refusal's
//   words are the double's own: neither the facts nor smolvm's docs quote
//   it). Refused, in this order: a missing machine (`vm not found`), one not
//   running (the facts give no text for a checkpoint: the double uses their
//   `machine exec` words), one not started branchable on macOS (before 1.20.0
//   every capture, `… guest RAM has no file-backed regions`, facts; from
//   1.20.0 a `--store` capture, `deferred durable save requires file-backed
//   guest RAM`, smolvm's docs/branch-and-checkpoint/SKILL.md on v1.22.2 —
//   the part before the text is the double's), one with host mounts or
//   published sockets (the facts' text exactly: `the initial portable
//   checkpoint profile does not support …; stop or detach these resources
//   before capture`, the resources named). On Linux a machine not started
//   branchable is checkpointed (smolvm's SKILL.md: "Linux checkpoints and
//   pauses without it"; the facts give no Linux refusal, and bot-bottle
//   checks `forkable` itself before it asks). The machine keeps running and
//   the double prints the facts' `Source resumed after 0.024s; packaging
//   continued in the background`. The checkpoint is a JSON file, or with
//   `--store` (or an existing directory as `-o`) a directory holding
//   `checkpoint.json`; it records `<os>/<arch>` and the machine's root
//   filesystem, `/workspace`, network setting and memory. Checkpointing again
//   to the same path adds a generation (newest `~0`), keeping `--history N`
//   (default 32, facts) — how generations accumulate is not in the facts; this
//   is the double's reading. `checkpoint-log CKPT` lists them as `~N <id>
//   <time> <machine> <mem>` (facts).
// - `machine create --from CKPT [--at ~N]` (facts): another host platform is
//   refused (`checkpoint host platform '…' does not match '…'`, facts), as is
//   `--cpus`/`--mem` (facts: restore rejects them; the words are the
//   double's); the machine's next `start` resumes the generation's memory (and
//   is branchable), later starts boot fresh. `--at` without a checkpoint is
//   refused (the double's words).
// - `machine checkpoint-prune`, `pause`, `resume` (from 1.10.0, facts) are not
//   simulated.
// - `pack push REF -f FILE` / `pack pull REF [-o FILE]` (every 1.x: src
//   src/cli/pack.rs from v0.5.10): the registry is the doubles' shared one
//   (registry.ts). Progress on stderr as src prints it (`Pushing FILE to
//   HOST/REPO:TAG`, `Pushed successfully` with the layer and manifest
//   digests; `Pulling …`, `Pulled successfully -> DEST (N bytes)`, and a
//   warning, not an error, for an artifact of another platform). Plain HTTP
//   for a loopback host, HTTPS otherwise (src/registry.rs); credentials from
//   the docker config (`docker login`, src/registry.rs: the world's
//   `logins`). Refusals with smolvm-registry's `RegistryError` texts
//   (crates/smolvm-registry/src/lib.rs, client.rs), as `agent operation
//   failed: registry push|pull: …`: a missing file (`push: file not found`),
//   a file that is not a pack (`pack format error: invalid magic: expected
//   SMOLPACK`: push reads the pack manifest from the sidecar's footer, src
//   crates/smolvm-registry/src/push.rs; the double's packs are its own tars),
//   unreachable or an untrusted certificate (`HTTP request failed: …`: reqwest
//   shows only its top-level error), plain HTTP to a TLS registry (`registry
//   returned 400: Client sent an HTTP request to an HTTPS server.`, the
//   distribution registry's answer), a Basic-auth registry without the right
//   login (`registry authentication failed: unsupported
//   authenticate challenge: Basic realm=…`: smolvm only answers Bearer
//   challenges), an unknown tag (`blob not found: REPO:TAG`), a digest that
//   does not match (`digest mismatch: expected …, got …`); pulling something
//   that is not a `.smolmachine` artifact is refused in the double's words.
//
// Each call is appended to the world's `calls` and written out before the
// command runs, so an interrupted `pack create` (see `packDelayMs`) or
// `machine checkpoint` (`checkpointDelayMs`, which leaves a partial file at
// its output while it waits) is still recorded. The world is written again at the end only when the command
// changed a machine: a long `pack create` never overwrites what other calls
// did meanwhile.
//
// Real options this double does not simulate (`pack create --image`, …) and
// real subcommands it does not simulate (`machine shell`, `pack inspect`, …)
// fail with `Error: smolvm test double: … is not simulated`, exit status 1,
// so a test never mistakes them for a real refusal.

import { writeWorldFile } from "./world_file.ts";
import { printContent, readContent, writeContent } from "./blobs.ts";
import { dirname, join, resolve } from "node:path";
import type { FakeMachine, MachineMemory, SmolvmWorld } from "./smolvm_world.ts";
import { isLoopback, parseReference, pull, push, RegistryError, sha256 } from "./registry.ts";
import { present } from "../_helpers/present.ts";

/** A runtime error: printed as `Error: <message>`, exit status 1. */
class SmolvmError extends Error {
  override name = "SmolvmError";
}

/** An argument error, printed as clap prints it, exit status 2. */
class UsageError extends Error {
  override name = "UsageError";
}

/** Output that ends the command successfully (`--help`): printed, exit status 0. */
class HelpRequest extends Error {
  override name = "HelpRequest";
}

/** One option of a command, as clap declares it. */
interface OptionSpec {
  /** `--long`. */
  long: string;
  /** `-s`. */
  short?: string;
  /** The value's placeholder, e.g. `<NAME>`; absent for a flag. */
  value?: string;
  required?: boolean;
  /** Required unless one of these (long names) is given. */
  requiredUnless?: string[];
  /** Cannot be given with this one (a long name). */
  conflictsWith?: string;
  /** A real smolvm option that this double refuses as not simulated. */
  unsimulated?: boolean;
}

/** A command's arguments, as clap declares them. */
interface CommandSpec {
  /** The words after `smolvm`, e.g. `machine stop`. */
  path: string;
  /** clap's usage line, without `Usage: `. */
  usage: string;
  options: OptionSpec[];
  /** Required positional arguments, e.g. `<NAME>`. */
  positionals: string[];
}

/** Parsed arguments: option values and flags by their long name, and positionals. */
interface Parsed {
  values: Map<string, string>;
  flags: Set<string>;
  positionals: string[];
  /** For `machine exec`: the command after `--`. */
  command?: string[];
}

interface Command {
  spec: CommandSpec;
  run(args: Parsed, world: SmolvmWorld): Promise<Outcome> | Outcome;
}

/** What a command did: whether it changed the world's machines. */
interface Outcome {
  changed: boolean;
}

const UNCHANGED: Outcome = { changed: false };
const CHANGED: Outcome = { changed: true };

/** Defaults smolvm gives a machine (`--cpus`, `--mem`). */
const DEFAULT_CPUS = 4;
const DEFAULT_MEMORY_MIB = 8192;

/** The real `machine` subcommands this double does not simulate. */
const UNSIMULATED_MACHINE = [
  "run",
  "fork",
  "fork-release",
  "egress-events",
  "update",
  "images",
  "prune",
  "shell",
  "sh",
  "cp",
  "monitor",
  "data-dir",
];

/** Aliases clap accepts but does not list: `list` (ls), `rm` (delete), `sh` (shell). */
const ALIASES = ["list", "rm", "sh"];

/** The real `pack` subcommands this double does not simulate. */
const UNSIMULATED_PACK = ["run", "inspect", "prune"];

/** The real `machine` subcommands from 1.10.0 this double does not simulate. */
const UNSIMULATED_CHECKPOINT = ["checkpoint-prune", "pause", "resume"];

const stdout = (text: string) => console.log(text);
const stderr = (text: string) => console.error(text);

function usageError(message: string, usage?: string): UsageError {
  const lines = [`error: ${message}`, ""];
  if (usage) lines.push(`Usage: ${usage}`, "");
  lines.push("For more information, try '--help'.");
  return new UsageError(lines.join("\n"));
}

function notSimulated(what: string): SmolvmError {
  return new SmolvmError(`smolvm test double: ${what} is not simulated`);
}

/** `--name <NAME>`, as clap names an option in its messages. */
function display(option: OptionSpec): string {
  return option.value ? `${option.long} ${option.value}` : option.long;
}

/** Parses `args` as clap would for `spec`, or throws clap's error. */
function parse(spec: CommandSpec, args: string[]): Parsed {
  const parsed: Parsed = { values: new Map(), flags: new Set(), positionals: [] };
  const seen = new Set<string>();
  const take = (option: OptionSpec, inline: string | undefined, rest: string[]): void => {
    if (seen.has(option.long)) {
      throw usageError(
        `the argument '${display(option)}' cannot be used multiple times`,
        spec.usage,
      );
    }
    seen.add(option.long);
    if (!option.value) {
      if (inline !== undefined) {
        throw usageError(
          `unexpected value '${inline}' for '${option.long}' found; no more were expected`,
          spec.usage,
        );
      }
      parsed.flags.add(option.long);
      return;
    }
    let value = inline;
    if (value === undefined) {
      const next = rest[0];
      if (next === undefined || (next.startsWith("-") && next !== "-")) {
        throw usageError(`a value is required for '${display(option)}' but none was supplied`);
      }
      value = rest.shift()!;
    }
    parsed.values.set(option.long, value);
  };
  const rest = [...args];
  let onlyPositionals = false;
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (onlyPositionals || arg === "-" || !arg.startsWith("-")) {
      if (parsed.positionals.length >= spec.positionals.length) {
        throw usageError(`unexpected argument '${arg}' found`, spec.usage);
      }
      parsed.positionals.push(arg);
    } else if (arg === "--") {
      onlyPositionals = true;
    } else if (arg === "--help" || arg === "-h") {
      throw new HelpRequest(helpText(spec));
    } else if (arg.startsWith("--")) {
      const [long, inline] = splitOnce(arg, "=");
      const option = spec.options.find((each) => each.long === long);
      if (!option) throw usageError(`unexpected argument '${long}' found`, spec.usage);
      take(option, inline, rest);
    } else {
      const short = arg.slice(0, 2);
      const option = spec.options.find((each) => each.short === short);
      if (!option) throw usageError(`unexpected argument '${short}' found`, spec.usage);
      const attached = arg.slice(2);
      if (option.value) {
        take(option, attached === "" ? undefined : attached.replace(/^=/, ""), rest);
      } else {
        take(option, undefined, rest);
        // Combined short flags (`-fx`) are read one by one.
        if (attached !== "") rest.unshift(`-${attached}`);
      }
    }
  }
  const isMissing = (option: OptionSpec) =>
    !seen.has(option.long) &&
    (option.required || (option.requiredUnless?.every((other) => !seen.has(other)) ?? false));
  const missing = [
    ...spec.options.filter(isMissing).map(display),
    ...spec.positionals.slice(parsed.positionals.length),
  ];
  if (missing.length > 0) {
    throw new UsageError(
      [
        "error: the following required arguments were not provided:",
        ...missing.map((each) => `  ${each}`),
        "",
        `Usage: ${spec.usage}`,
        "",
        "For more information, try '--help'.",
      ].join("\n"),
    );
  }
  for (const option of spec.options) {
    const other = spec.options.find((each) => each.long === option.conflictsWith);
    if (other && seen.has(option.long) && seen.has(other.long)) {
      const [first, second] = [...seen].indexOf(option.long) < [...seen].indexOf(other.long)
        ? [option, other]
        : [other, option];
      throw usageError(
        `the argument '${display(first)}' cannot be used with '${display(second)}'`,
        spec.usage,
      );
    }
  }
  for (const option of spec.options) {
    if (option.unsimulated && seen.has(option.long)) {
      throw notSimulated(`'smolvm ${spec.path} ${option.long}'`);
    }
  }
  return parsed;
}

/** clap's help: the usage line, then every option, each on its own line. */
function helpText(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage}`, "", "Options:"];
  for (const option of spec.options) {
    const short = option.short ? `${option.short}, ` : "    ";
    lines.push(`  ${short}${display(option)}`);
  }
  lines.push("  -h, --help");
  return lines.join("\n");
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

/** Whether `version` is at least `major.minor.patch`. */
function atLeast(version: string, wanted: [number, number, number]): boolean {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!match) throw new Error(`the smolvm world's version "${version}" is not x.y.z`);
  const [, major = 0, minor = 0, patch = 0] = match.map(Number);
  const [wantedMajor, wantedMinor, wantedPatch] = wanted;
  if (major !== wantedMajor) return major > wantedMajor;
  if (minor !== wantedMinor) return minor > wantedMinor;
  return patch >= wantedPatch;
}

/** A small stable hash (FNV-1a), for fake PIDs and local image references. */
function fnv(text: string): number {
  let hash = 0x811c9dc5;
  for (const char of text) hash = Math.imul(hash ^ char.codePointAt(0)!, 0x01000193) >>> 0;
  return hash;
}

/** The OCI name of a CPU architecture: `x86_64` → `amd64`, `aarch64` → `arm64`. */
function ociArch(arch: string): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[arch] ?? arch;
}

function imageOf(machine: FakeMachine): string | null {
  if (machine.image !== undefined) return machine.image;
  switch (machine.source) {
    case "registry":
      return "docker.io/library/alpine:latest";
    case "local-archive":
      return `local:${fnv(machine.name).toString(16).padStart(8, "0")}`;
    default:
      return null;
  }
}

function pidOf(machine: FakeMachine): number | null {
  const alive = ["running", "frozen", "unreachable"].includes(machine.state);
  return alive ? 10_000 + (fnv(machine.name) % 50_000) : null;
}

/**
 * A machine as `machine ls --json` and `machine status --json` show it: keys
 * in alphabetical order, `mounts` and `ports` as counts (a subset of the
 * real ~30 keys).
 */
function describe(machine: FakeMachine) {
  return {
    cpus: DEFAULT_CPUS,
    forkable: machine.branchable ?? false,
    image: imageOf(machine),
    memory_mib: DEFAULT_MEMORY_MIB,
    mounts: machine.mounts?.length ?? 0,
    name: machine.name,
    network: machine.network ?? false,
    pid: pidOf(machine),
    ports: machine.publishedSockets?.length ?? 0,
    state: machine.state,
  };
}

function find(world: SmolvmWorld, name: string): FakeMachine {
  const machine = world.machines.find((each) => each.name === name);
  if (!machine) throw new SmolvmError(`vm not found: ${name}`);
  return machine;
}

// --- machine ls / status ---------------------------------------------------

const ls: Command = {
  spec: {
    path: "machine ls",
    usage: "smolvm machine ls [OPTIONS]",
    options: [{ long: "--json" }],
    positionals: [],
  },
  run(args, world) {
    if (args.flags.has("--json")) {
      stdout(JSON.stringify(world.machines.map(describe), null, 2));
    } else if (world.machines.length === 0) {
      stdout("No machines found");
    } else {
      const rows = [
        ["NAME", "STATE", "PID", "CPUS", "MEMORY", "IMAGE"],
        ...world.machines.map((machine) => [
          machine.name,
          machine.state,
          String(pidOf(machine) ?? "-"),
          String(DEFAULT_CPUS),
          `${DEFAULT_MEMORY_MIB} MiB`,
          imageOf(machine) ?? "-",
        ]),
      ];
      const widths: number[] = [];
      for (const row of rows) {
        row.forEach((cell, column) => widths[column] = Math.max(widths[column] ?? 0, cell.length));
      }
      for (const row of rows) {
        stdout(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd());
      }
    }
    return UNCHANGED;
  },
};

const status: Command = {
  spec: {
    path: "machine status",
    usage: "smolvm machine status [OPTIONS]",
    options: [{ long: "--name", value: "<NAME>" }, { long: "--json" }],
    positionals: [],
  },
  run(args, world) {
    const machine = find(world, args.values.get("--name") ?? "default");
    const shown = describe(machine);
    if (args.flags.has("--json")) {
      stdout(JSON.stringify(shown, null, 2));
    } else {
      stdout(`Machine: ${shown.name}`);
      stdout(`  State: ${shown.state}`);
      if (shown.pid !== null) stdout(`  PID: ${shown.pid}`);
      stdout(`  CPUs: ${shown.cpus}, Memory: ${shown.memory_mib} MiB`);
      if (shown.image) stdout(`  Image: ${shown.image}`);
    }
    return UNCHANGED;
  },
};

// --- machine start / stop ----------------------------------------------------

/** `machine start`: `--forkable` in every version, `--branchable` (its new name) from 1.10.0. */
function start(world: SmolvmWorld): Command {
  return {
    spec: {
      path: "machine start",
      usage: "smolvm machine start [OPTIONS]",
      options: [
        { long: "--name", value: "<NAME>" },
        { long: "--forkable" },
        ...(checkpoints(world) ? [{ long: "--branchable" }] : []),
      ],
      positionals: [],
    },
    run(args, world) {
      const name = args.values.get("--name") ?? "default";
      const machine = find(world, name);
      if (machine.state === "running" || machine.state === "frozen") {
        stdout(`Machine '${name}' already running (PID: ${pidOf(machine)})`);
        return UNCHANGED;
      }
      // Before 1.7.3 a registry machine without network was created, and its first start
      // failed pulling the image inside the guest (the text here is the double's own).
      if (machine.state === "created" && machine.source === "registry" && !machine.network) {
        throw new SmolvmError(
          `agent operation failed: pull image: failed to pull '${imageOf(machine)}': ` +
            `dial tcp: lookup registry-1.docker.io: no such host`,
        );
      }
      // created, stopped, failed; an unreachable one is killed and started afresh.
      stdout(`Starting machine '${name}'...`);
      machine.state = "running";
      if (machine.restore) {
        // Created from a checkpoint: it resumes where it was, memory and all, branchable still.
        machine.memory = machine.restore;
        machine.branchable = true;
        delete machine.restore;
      } else {
        machine.memory = { bootId: crypto.randomUUID(), run: {} };
        machine.branchable = args.flags.has("--branchable") || args.flags.has("--forkable");
      }
      stdout(`Started machine: ${name}`);
      return CHANGED;
    },
  };
}

/** Whether this version has memory checkpoints (`machine checkpoint`, `--branchable`): 1.10.0. */
function checkpoints(world: SmolvmWorld): boolean {
  return atLeast(world.version, [1, 10, 0]);
}

/** A machine stops: its memory is gone, and branchability is decided again at the next start. */
function halt(machine: FakeMachine): void {
  machine.state = "stopped";
  delete machine.memory;
  delete machine.branchable;
}

const stop: Command = {
  spec: {
    path: "machine stop",
    usage: "smolvm machine stop [OPTIONS]",
    options: [{ long: "--name", value: "<NAME>" }],
    positionals: [],
  },
  run(args, world) {
    const name = args.values.get("--name") ?? "default";
    const machine = find(world, name);
    switch (machine.state) {
      case "running":
      case "frozen":
        stdout(`Stopping machine '${name}'...`);
        halt(machine);
        stdout(`Stopped machine: ${name}`);
        return CHANGED;
      case "unreachable":
        // smolvm kills the VMM whose agent no longer answers.
        halt(machine);
        stdout(`Stopped machine: ${name}`);
        return CHANGED;
      default:
        stdout(`Machine '${name}' is not running (state: ${machine.state})`);
        return UNCHANGED;
    }
  },
};

// --- machine create / delete -------------------------------------------------

/**
 * `machine create`: the name is positional before 1.0.2, `--name` from 1.0.2;
 * from 1.10.0 `--from` also takes a checkpoint, with `--at ~N`.
 */
function create(nameIsFlag: boolean, world: SmolvmWorld): Command {
  const spec: CommandSpec = {
    path: "machine create",
    usage: nameIsFlag
      ? "smolvm machine create [OPTIONS] --name <NAME>"
      : "smolvm machine create [OPTIONS] <NAME>",
    options: [
      ...(nameIsFlag ? [{ long: "--name", value: "<NAME>", required: true }] : []),
      { long: "--from", value: "<PATH>", conflictsWith: "--image" },
      { long: "--image", short: "-I", value: "<IMAGE>" },
      { long: "--cpus", value: "<N>" },
      { long: "--mem", value: "<MiB>" },
      { long: "--net" },
      { long: "--smolfile", short: "-s", value: "<PATH>", unsimulated: true },
      ...(checkpoints(world) ? [{ long: "--at", value: "<GENERATION>" }] : []),
    ],
    positionals: nameIsFlag ? [] : ["<NAME>"],
  };
  return {
    spec,
    async run(args, world) {
      const name = present(
        nameIsFlag ? args.values.get("--name") : args.positionals[0],
        "a machine name",
      );
      const from = args.values.get("--from");
      const image = args.values.get("--image");
      let machine: FakeMachine;
      const at = args.values.get("--at");
      if (from !== undefined && checkpoints(world) && isCheckpointPath(from, world)) {
        for (const option of ["--cpus", "--mem"]) {
          if (args.values.has(option)) {
            throw new SmolvmError(
              `config operation failed: create from checkpoint: ${option} cannot be changed when ` +
                `restoring a checkpoint (it resumes with the machine's own resources)`,
            );
          }
        }
        machine = await machineFromCheckpoint(name, from, at ?? "~0", world);
      } else if (at !== undefined) {
        throw new SmolvmError(
          `config operation failed: create machine: --at selects a checkpoint generation; ` +
            `it needs --from <checkpoint>`,
        );
      } else if (from !== undefined) {
        machine = await machineFromArtifact(name, from, world);
      } else if (image !== undefined) {
        refuseExisting(world, name);
        const local = isLocalImage(image);
        const network = args.flags.has("--net");
        if (!local && !network && atLeast(world.version, [1, 7, 3])) {
          throw new SmolvmError(
            `config operation failed: create machine: image '${image}' must be pulled from a ` +
              `registry, but this machine has no network, so the pull can never succeed. Add ` +
              `--net (or publish a port with -p, or set an egress policy with ` +
              `--allow-cidr/--allow-host). To keep the machine network-isolated, supply the ` +
              `image locally instead: \`docker save ${image} | smolvm machine create --image - ...\``,
          );
        }
        machine = {
          name,
          state: "created",
          source: local ? "local-archive" : "registry",
          arch: world.hostArch,
          files: {},
          workspace: {},
          network,
          image: local ? `local:${fnv(resolve(image)).toString(16).padStart(8, "0")}` : image,
        };
      } else {
        throw notSimulated("'smolvm machine create' without --from or --image (a bare VM)");
      }
      world.machines.push(machine);
      stdout(`Created machine: ${name}`);
      stdout(
        `  CPUs: ${args.values.get("--cpus") ?? DEFAULT_CPUS}, Memory: ${
          args.values.get("--mem") ?? DEFAULT_MEMORY_MIB
        } MiB`,
      );
      stdout(`\nUse 'smolvm machine start --name ${name}' to start the machine`);
      return CHANGED;
    },
  };
}

/**
 * `image_source::classify`: `-`, a path (`/`, `./`, `../`) or an archive name
 * (`.tar`, `.tar.gz`, `.tgz`) is local; anything else is a registry reference.
 */
function isLocalImage(image: string): boolean {
  return image === "-" || /^(\/|\.\/|\.\.\/)/.test(image) ||
    [".tar", ".tar.gz", ".tgz"].some((suffix) => image.endsWith(suffix));
}

function refuseExisting(world: SmolvmWorld, name: string): void {
  if (world.machines.some((each) => each.name === name)) {
    throw new SmolvmError(
      `config operation failed: create machine: machine '${name}' already exists`,
    );
  }
}

/** Reads a `.smolmachine` made by `pack create` into a new machine record. */
async function machineFromArtifact(
  name: string,
  path: string,
  world: SmolvmWorld,
): Promise<FakeMachine> {
  if (!(await exists(path))) {
    throw new SmolvmError(
      `config operation failed: create from .smolmachine: file not found: ${path}`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "smolvm-double-create-" });
  try {
    const untar = await new Deno.Command("tar", {
      args: ["-xf", resolve(path), "-C", dir],
      stdout: "null",
      stderr: "piped",
    }).output();
    let manifest: { format?: unknown; arch?: unknown; network?: unknown } | undefined;
    if (untar.success) {
      manifest = await Deno.readTextFile(join(dir, "manifest.json"))
        .then((text) => JSON.parse(text), () => undefined);
    }
    if (!manifest || manifest.format !== 1 || typeof manifest.arch !== "string") {
      throw new SmolvmError(
        `agent operation failed: read .smolmachine: invalid sidecar ${path}: no pack manifest found`,
      );
    }
    const arch = ociArch(manifest.arch);
    const host = ociArch(world.hostArch);
    if (arch !== host) {
      throw new SmolvmError(
        `agent operation failed: platform mismatch: this artifact is built for architecture ` +
          `'${arch}' (platform 'linux/${arch}'), but this host is '${host}'. A packed VM or ` +
          `image carries native binaries and cannot run on a different CPU architecture — ` +
          `re-pack on an '${arch}' host, or use an '${host}' artifact.`,
      );
    }
    refuseExisting(world, name);
    return {
      name,
      state: "created",
      source: "smolmachine",
      arch: manifest.arch,
      files: await readTree(join(dir, "rootfs")),
      // The storage disk: `/workspace` as the pack carried it (empty without --include-workspace).
      workspace: await readTree(join(dir, "workspace")),
      // A pack records the network setting; `create --from` inherits it.
      network: manifest.network === true,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `machine delete`: the name is positional before 1.0.2, `--name` from 1.0.2. */
function remove(nameIsFlag: boolean): Command {
  return {
    spec: {
      path: "machine delete",
      usage: nameIsFlag
        ? "smolvm machine delete [OPTIONS] --name <NAME>"
        : "smolvm machine delete [OPTIONS] <NAME>",
      options: [
        ...(nameIsFlag ? [{ long: "--name", value: "<NAME>", required: true }] : []),
        { long: "--force", short: "-f" },
      ],
      positionals: nameIsFlag ? [] : ["<NAME>"],
    },
    async run(args, world) {
      const name = present(
        nameIsFlag ? args.values.get("--name") : args.positionals[0],
        "a machine name",
      );
      const machine = find(world, name);
      let changed = false;
      // smolvm stops the machine before it asks.
      if (machine.state === "running") {
        stdout(`Stopping machine '${name}'...`);
        halt(machine);
        changed = true;
      } else if (machine.state === "unreachable") {
        halt(machine);
        changed = true;
      }
      if (!args.flags.has("--force")) {
        await Deno.stderr.write(new TextEncoder().encode(`Delete machine '${name}'? [y/N] `));
        const answer = (await readLine()).trim().toLowerCase();
        if (answer !== "y" && answer !== "yes") {
          stdout("Cancelled");
          return { changed };
        }
      }
      world.machines = world.machines.filter((each) => each !== machine);
      stdout(`Deleted machine: ${name}`);
      return CHANGED;
    },
  };
}

/** One line of stdin, without waiting past its end ("" when stdin is closed or empty). */
async function readLine(): Promise<string> {
  const bytes: number[] = [];
  const buffer = new Uint8Array(1);
  while (true) {
    const read = await Deno.stdin.read(buffer).catch(() => null);
    if (read === null || read === 0) break;
    const [byte] = buffer;
    if (byte === undefined || byte === 0x0a) break;
    bytes.push(byte);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

// --- pack create --------------------------------------------------------------

/** Whether this version's `pack create` takes `--include-workspace` (see `SmolvmWorld`). */
function packsWorkspace(world: SmolvmWorld): boolean {
  return world.includeWorkspace ?? atLeast(world.version, [1, 22, 0]);
}

/** `pack create`, as `world`'s version declares it. */
function packCreate(world: SmolvmWorld): Command {
  return {
    spec: {
      path: "pack create",
      usage:
        "smolvm pack create --output <PATH> <--image <IMAGE>|--from-vm <VM_NAME>|--smolfile <PATH>>",
      options: [
        { long: "--from-vm", value: "<VM_NAME>" },
        { long: "--output", short: "-o", value: "<PATH>", required: true },
        {
          long: "--image",
          short: "-I",
          value: "<IMAGE>",
          requiredUnless: ["--from-vm", "--smolfile"],
          conflictsWith: "--from-vm",
          unsimulated: true,
        },
        { long: "--smolfile", short: "-s", value: "<PATH>", unsimulated: true },
        { long: "--single-file", unsimulated: true },
        { long: "--cpus", value: "<N>" },
        { long: "--mem", value: "<MiB>" },
        { long: "--oci-platform", value: "<OS/ARCH>" },
        { long: "--entrypoint", value: "<CMD>" },
        { long: "--no-sign" },
        { long: "--gpu" },
        { long: "--staging-dir", value: "<DIR>" },
        ...(packsWorkspace(world) ? [{ long: "--include-workspace" }] : []),
      ],
      positionals: [],
    },
    async run(args, world) {
      // Parsing made sure of it: --image and --smolfile are not simulated.
      const name = args.values.get("--from-vm")!;
      const output = args.values.get("--output")!;
      if (atLeast(world.version, [1, 7, 0]) && /\.smolmachine$/i.test(output)) {
        throw new SmolvmError(
          `config operation failed: pack create: --output names the executable stub, not the ` +
            `.smolmachine sidecar (which is created automatically as '<output>.smolmachine'). ` +
            `Use --output ${output.slice(0, -".smolmachine".length)} instead.`,
        );
      }
      const refuse = (message: string) =>
        new SmolvmError(`agent operation failed: pack from VM: ${message}`);
      const machine = world.machines.find((each) => each.name === name);
      if (!machine) throw refuse(`VM '${name}' not found`);
      switch (machine.state) {
        case "running":
        case "frozen":
          throw refuse(
            `VM '${name}' is running. Stop it first with: smolvm machine stop --name ${name}`,
          );
        case "unreachable":
          throw refuse(
            `VM '${name}' is unreachable (its VM process is alive but its agent does not answer). ` +
              `Stop it first with: smolvm machine stop --name ${name}`,
          );
        case "failed":
          throw refuse(
            `VM '${name}' is in state failed; its disks may be inconsistent. Start it again with: ` +
              `smolvm machine start --name ${name}, or delete it`,
          );
      }
      const image = imageOf(machine);
      if (machine.source === "local-archive") {
        throw refuse(
          `VM '${name}' was created from a local image (${image}). \`pack create --from-vm\` can ` +
            `only snapshot VMs created from a REGISTRY image — local archives and rootfs ` +
            `directories are flattened on boot and have no registry manifest to re-pull. ` +
            `Recreate the machine from a registry reference to pack it.`,
        );
      }
      // Up to 1.16.0 a pack re-pulls the base image and refuses fork clones; from 1.16.1
      // cached layers are reused and fork clones can be packed.
      const cached = atLeast(world.version, [1, 16, 1]);
      if (machine.source === "fork" && !cached) {
        throw refuse(
          `machine '${name}' is a fork clone of '${machine.forkOf ?? "golden"}'; its ` +
            `copy-on-write disks cannot be exported directly. Export the golden instead, or ` +
            `recreate the state in a non-clone machine and export that.`,
        );
      }
      if (machine.state === "created") {
        const disk = join(dataDir(name), "storage.raw");
        throw refuse(
          `machine '${name}' has no storage disk yet (${disk}) — it has never been started. ` +
            `Start it once so its state exists, or pack the image directly with ` +
            `\`pack create -I <image>\`.`,
        );
      }
      stdout(`Packing VM '${name}' snapshot...`);
      if (machine.source === "registry" && !cached) {
        stdout("Starting agent VM to export layers...");
        if (!world.network) {
          throw new SmolvmError(
            `agent operation failed: pull image: failed to pull '${image}': network unreachable ` +
              `(packing a VM created from a registry image re-pulls its base image)`,
          );
        }
      }
      if (world.packDelayMs) await new Promise((done) => setTimeout(done, world.packDelayMs));
      const stub = resolve(output);
      const artifact = `${stub}.smolmachine`;
      if (!(await exists(dirname(stub)))) {
        throw new SmolvmError(
          "agent operation failed: pack binary: No such file or directory (os error 2)",
        );
      }
      await writeArtifact(machine, artifact, args.flags.has("--include-workspace"));
      await Deno.writeTextFile(stub, stubScript(), { mode: 0o755 });
      await Deno.chmod(stub, 0o755);
      const stubSize = (await Deno.stat(stub)).size;
      const assetsSize = (await Deno.stat(artifact)).size;
      stdout(
        `Packed: ${output} (stub: ${kb(stubSize)}KB, total: ${kb(stubSize + assetsSize)}KB)`,
      );
      stdout(`Assets: ${output}.smolmachine (${kb(assetsSize)}KB compressed)`);
      stdout(`\nRun with: ${output}`);
      stdout("Note: Keep the .smolmachine file alongside the binary");
      stdout("Options: --help for usage");
      return UNCHANGED;
    },
  };
}

/** Where smolvm keeps a machine's disks (the double's stand-in, for messages). */
function dataDir(name: string): string {
  return `${Deno.env.get("HOME") ?? "/root"}/.local/share/smolvm/vms/${name}`;
}

const kb = (bytes: number) => Math.floor(bytes / 1024);

function stubScript(): string {
  return [
    "#!/bin/sh",
    "# A packed smolvm machine (made by the smolvm test double): boots $0.smolmachine.",
    'echo "smolvm test double: packed machines do not boot here ($0.smolmachine)" >&2',
    "exit 1",
    "",
  ].join("\n");
}

/**
 * Writes `artifact`: a tar of `manifest.json`, `rootfs/<the machine's files>`
 * and, with `--include-workspace`, `workspace/<its /workspace>` (the storage
 * disk, which a pack otherwise leaves out).
 */
async function writeArtifact(
  machine: FakeMachine,
  artifact: string,
  includeWorkspace: boolean,
): Promise<void> {
  const staging = await Deno.makeTempDir({ prefix: "smolvm-double-pack-" });
  try {
    const manifest = {
      format: 1,
      arch: machine.arch,
      from: machine.name,
      network: machine.network ?? false,
    };
    await Deno.writeTextFile(join(staging, "manifest.json"), `${JSON.stringify(manifest)}\n`);
    const trees: [string, Record<string, string>][] = [["rootfs", machine.files]];
    if (includeWorkspace) trees.push(["workspace", machine.workspace ?? {}]);
    for (const [tree, files] of trees) {
      await Deno.mkdir(join(staging, tree));
      for (const [path, content] of Object.entries(files)) {
        if (path.startsWith("/") || path.split("/").includes("..")) {
          throw new Error(`the smolvm world gives machine "${machine.name}" a bad path: ${path}`);
        }
        const file = join(staging, tree, path);
        await Deno.mkdir(dirname(file), { recursive: true });
        await writeContent(file, content);
      }
    }
    const tar = await new Deno.Command("tar", {
      args: ["-cf", artifact, "-C", staging, "manifest.json", ...trees.map(([tree]) => tree)],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!tar.success) {
      throw new SmolvmError(
        `agent operation failed: pack binary: ${new TextDecoder().decode(tar.stderr).trim()}`,
      );
    }
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}

/** The files under `root`: relative path → content. */
async function readTree(root: string, prefix = ""): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  if (!(await exists(root))) return files;
  for await (const entry of Deno.readDir(root)) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) {
      Object.assign(files, await readTree(join(root, entry.name), relative));
    } else if (entry.isFile) {
      files[relative] = await readContent(join(root, entry.name));
    }
  }
  return files;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

// --- machine exec ---------------------------------------------------------------

/**
 * `machine exec --name NAME [-i] [-t] [-e K=V] [-w DIR] [--timeout D] -- CMD…`:
 * a stopped machine is refused (facts). The double runs a few commands on the
 * machine it models, enough to read and write its disks and its memory:
 * `cat PATH…`, `cat` (stdin to stdout, with `-i`), `tee PATH` (stdin), `true`, `false`. `/proc/sys/kernel/random/boot_id`
 * and `/run/…` (a tmpfs) are in memory; `/workspace/…` is the storage disk;
 * everything else is the root filesystem.
 */
const exec: Command = {
  spec: {
    path: "machine exec",
    usage: "smolvm machine exec [OPTIONS] --name <NAME> -- <COMMAND>...",
    options: [
      { long: "--name", value: "<NAME>", required: true },
      { long: "--interactive", short: "-i" },
      { long: "--tty", short: "-t" },
      { long: "--env", short: "-e", value: "<KEY=VALUE>" },
      { long: "--workdir", short: "-w", value: "<DIR>" },
      { long: "--timeout", value: "<DURATION>" },
    ],
    positionals: [],
  },
  async run(args, world) {
    const name = args.values.get("--name")!;
    const machine = find(world, name);
    const memory = memoryOf(machine);
    const [program, ...operands] = args.command ?? [];
    const place = (path: string): [Record<string, string>, string] => {
      if (path === "/proc/sys/kernel/random/boot_id") {
        return [{ [path]: `${memory.bootId}\n` }, path];
      }
      if (path.startsWith("/run/")) return [memory.run, path.slice(5)];
      if (path.startsWith("/workspace/")) return [machine.workspace ??= {}, path.slice(11)];
      return [machine.files, path.replace(/^\//, "")];
    };
    switch (program) {
      case "true":
        return UNCHANGED;
      case "false":
        throw new ExitStatus(1);
      case "cat": {
        if (operands.length === 0) {
          // Without -i the command's stdin is empty.
          if (args.flags.has("--interactive")) {
            await Deno.stdin.readable.pipeTo(Deno.stdout.writable);
          }
          return UNCHANGED;
        }
        let status = 0;
        for (const path of operands) {
          const [tree, key] = place(path);
          if (Object.hasOwn(tree, key)) {
            await printContent(tree[key] ?? "");
          } else {
            stderr(`cat: ${path}: No such file or directory`);
            status = 1;
          }
        }
        if (status) throw new ExitStatus(status);
        return UNCHANGED;
      }
      case "tee": {
        if (operands.length !== 1 || !args.flags.has("--interactive")) {
          throw notSimulated("'machine exec -- tee' other than `-i … -- tee PATH`");
        }
        const text = await new Response(Deno.stdin.readable).text();
        const [tree, key] = place(present(operands[0]));
        tree[key] = text;
        await Deno.stdout.write(new TextEncoder().encode(text));
        return CHANGED;
      }
      default:
        throw notSimulated(`'machine exec -- ${program ?? ""}'`);
    }
  },
};

// --- machine checkpoint / checkpoint-log ------------------------------------------

/**
 * The memory of a running machine (one a test put in the world running has a
 * boot id derived from its name), or the facts' refusal for one that is not.
 */
function memoryOf(machine: FakeMachine): MachineMemory {
  if (machine.state !== "running") {
    throw new SmolvmError(
      `machine '${machine.name}' is not running. Use 'smolvm machine start --name ${machine.name}' first.`,
    );
  }
  const hex = (fnv(machine.name).toString(16) + "0".repeat(32)).slice(0, 32);
  const bootId = [0, 8, 12, 16, 20].map((at, i, all) => hex.slice(at, all[i + 1] ?? 32)).join("-");
  return machine.memory ??= { bootId, run: {} };
}

/** One captured generation of a checkpoint: the machine as it was, memory included. */
interface Generation {
  id: string;
  time: string;
  machine: string;
  memoryMib: number;
  arch: string;
  network: boolean;
  files: Record<string, string>;
  workspace: Record<string, string>;
  memory: MachineMemory;
}

/**
 * A checkpoint as the double writes it: a JSON file (or, with `--store`, a
 * directory holding `checkpoint.json`), newest generation first.
 */
interface Checkpoint {
  format: "smolcheckpoint";
  hostPlatform: string;
  generations: Generation[];
}

/** `<os>/<arch>` of this host, as a checkpoint records it. */
function hostPlatform(world: SmolvmWorld): string {
  return `${world.hostOs === "macos" ? "darwin" : "linux"}/${ociArch(world.hostArch)}`;
}

/** Whether `path` names a checkpoint: `.smolcheckpoint`, and from 1.19.1 `.checkpoint`. */
function isCheckpointPath(path: string, world: SmolvmWorld): boolean {
  return path.endsWith(".smolcheckpoint") ||
    (atLeast(world.version, [1, 19, 1]) && path.endsWith(".checkpoint"));
}

/** The checkpoint at `path` (a file, or a directory with `checkpoint.json`), if there is one. */
async function readCheckpoint(path: string): Promise<Checkpoint | undefined> {
  const stat = await Deno.stat(path).catch(() => undefined);
  if (!stat) return undefined;
  const file = stat.isDirectory ? join(path, "checkpoint.json") : path;
  const text = await Deno.readTextFile(file).catch(() => "");
  try {
    const checkpoint = JSON.parse(text) as Checkpoint;
    return checkpoint.format === "smolcheckpoint" ? checkpoint : undefined;
  } catch {
    return undefined;
  }
}

const checkpointCommand: Command = {
  spec: {
    path: "machine checkpoint",
    usage: "smolvm machine checkpoint [OPTIONS] --name <NAME> --output <PATH>",
    options: [
      { long: "--name", value: "<NAME>", required: true },
      { long: "--output", short: "-o", value: "<PATH>", required: true },
      { long: "--store", value: "<DIR>" },
      { long: "--history", value: "<N>" },
    ],
    positionals: [],
  },
  async run(args, world) {
    const name = args.values.get("--name")!;
    const output = args.values.get("--output")!;
    const historyText = args.values.get("--history") ?? "32";
    if (!/^\d+$/.test(historyText) || Number(historyText) < 1) {
      throw usageError(
        `invalid value '${historyText}' for '--history <N>': expected a positive integer`,
      );
    }
    const extensions = atLeast(world.version, [1, 19, 1])
      ? "`.smolcheckpoint` or `.checkpoint`"
      : "`.smolcheckpoint`";
    if (!isCheckpointPath(output, world)) {
      throw new SmolvmError(
        `config operation failed: machine checkpoint: --output must end in ${extensions}: ${output}`,
      );
    }
    const machine = find(world, name);
    const memory = memoryOf(machine);
    if (!machine.branchable && world.hostOs === "macos") {
      if (!atLeast(world.version, [1, 20, 0])) {
        throw new SmolvmError(
          `agent operation failed: machine checkpoint: cannot snapshot '${name}': guest RAM ` +
            `has no file-backed regions`,
        );
      }
      if (args.values.has("--store")) {
        throw new SmolvmError(
          `agent operation failed: machine checkpoint: deferred durable save requires ` +
            `file-backed guest RAM`,
        );
      }
    }
    // The facts' text; the resources named as smolvm's SKILL.md lists them.
    const held = [
      ...(machine.mounts?.length ? ["a host mount (-v)"] : []),
      ...(machine.publishedSockets?.length ? ["a published socket"] : []),
    ];
    if (held.length) {
      throw new SmolvmError(
        `the initial portable checkpoint profile does not support ${held.join(", ")}; ` +
          `stop or detach these resources before capture`,
      );
    }
    const state = {
      machine: name,
      memoryMib: DEFAULT_MEMORY_MIB,
      arch: machine.arch,
      network: machine.network ?? false,
      files: machine.files,
      workspace: machine.workspace ?? {},
      memory,
    };
    const generation: Generation = {
      id: sha256(JSON.stringify(state)).slice(7, 19),
      time: new Date().toISOString(),
      ...state,
    };
    const store = args.values.get("--store");
    const previous = await readCheckpoint(output);
    const generations = [generation, ...(previous?.generations ?? [])]
      .slice(0, Number(historyText));
    const checkpoint: Checkpoint = {
      format: "smolcheckpoint",
      hostPlatform: hostPlatform(world),
      generations,
    };
    const isDirectory = store !== undefined ||
      (await Deno.stat(output).then((stat) => stat.isDirectory, () => false));
    if (world.checkpointDelayMs && !isDirectory) {
      // Still packaging: what is at the output so far is not a checkpoint.
      await Deno.writeTextFile(output, "partial");
      await new Promise((done) => setTimeout(done, world.checkpointDelayMs));
    }
    if (store !== undefined) await Deno.mkdir(store, { recursive: true });
    if (isDirectory) await Deno.mkdir(output, { recursive: true });
    await writeWorldFile(isDirectory ? join(output, "checkpoint.json") : output, checkpoint)
      .catch((error) => {
        throw new SmolvmError(
          `agent operation failed: machine checkpoint: write ${output}: ${error.message}`,
        );
      });
    stdout(`Checkpoint ${generation.id} of '${name}' -> ${output}`);
    stdout("Source resumed after 0.024s; packaging continued in the background");
    return UNCHANGED;
  },
};

const checkpointLog: Command = {
  spec: {
    path: "machine checkpoint-log",
    usage: "smolvm machine checkpoint-log <CHECKPOINT>",
    options: [],
    positionals: ["<CHECKPOINT>"],
  },
  async run(args) {
    const path = args.positionals[0];
    const checkpoint = await readCheckpoint(present(path));
    if (!checkpoint) {
      throw new SmolvmError(`config operation failed: checkpoint-log: not a checkpoint: ${path}`);
    }
    checkpoint.generations.forEach((each, index) =>
      stdout(`~${index} ${each.id} ${each.time} ${each.machine} ${each.memoryMib} MiB`)
    );
    return UNCHANGED;
  },
};

/** A new machine record from generation `at` (`~N`) of the checkpoint at `path`. */
async function machineFromCheckpoint(
  name: string,
  path: string,
  at: string,
  world: SmolvmWorld,
): Promise<FakeMachine> {
  if (!(await exists(path))) {
    throw new SmolvmError(
      `config operation failed: create from checkpoint: file not found: ${path}`,
    );
  }
  const checkpoint = await readCheckpoint(path);
  if (!checkpoint) {
    throw new SmolvmError(
      `config operation failed: create from checkpoint: not a checkpoint: ${path}`,
    );
  }
  if (checkpoint.hostPlatform !== hostPlatform(world)) {
    throw new SmolvmError(
      `checkpoint host platform '${checkpoint.hostPlatform}' does not match '${
        hostPlatform(world)
      }'`,
    );
  }
  const match = /^~(\d+)$/.exec(at);
  const generation = match ? checkpoint.generations[Number(match[1])] : undefined;
  if (!generation) {
    throw new SmolvmError(
      `config operation failed: create from checkpoint: no generation ${at} in ${path} ` +
        `(it has ~0 to ~${checkpoint.generations.length - 1})`,
    );
  }
  refuseExisting(world, name);
  return {
    name,
    state: "created",
    source: "smolmachine",
    arch: generation.arch,
    files: generation.files,
    workspace: generation.workspace,
    network: generation.network,
    restore: generation.memory,
  };
}

// --- pack push / pull -------------------------------------------------------------

/** smolvm's `RegistryError`s (smolvm-registry/src/lib.rs), as the double's registry fails. */
function registryMessage(operation: string, error: RegistryError): SmolvmError {
  const failure = error.failure;
  const reason = (() => {
    switch (failure.kind) {
      case "unreachable":
      case "untrusted":
        // reqwest's error shows only its top level: a refused connection and a
        // certificate it does not trust read the same.
        return `HTTP request failed: error sending request for url (${failure.url})`;
      case "tls":
        return failure.url.startsWith("http:")
          ? "registry returned 400: Client sent an HTTP request to an HTTPS server."
          : `HTTP request failed: error sending request for url (${failure.url})`;
      case "unauthorized":
        return `registry authentication failed: unsupported authenticate challenge: ` +
          `Basic realm="Registry Realm"`;
      case "unknown":
        return `blob not found: ${failure.what}`;
      case "mismatch":
        return `digest mismatch: expected ${failure.expected}, got ${failure.actual}`;
    }
  })();
  return new SmolvmError(`agent operation failed: registry ${operation}: ${reason}`);
}

const ARTIFACT_TYPE = "application/vnd.smolmachines.smolmachine.v1";

/** The reference parsed, the scheme smolvm uses for its host, and the login it has. */
function registryTarget(ref: string, world: SmolvmWorld) {
  const parsed = parseReference(ref);
  if (!parsed) {
    throw new SmolvmError(`agent operation failed: parse reference: invalid reference: ${ref}`);
  }
  // src/registry.rs: http for a local registry, else https.
  const scheme: "http" | "https" = isLoopback(parsed.host) ? "http" : "https";
  return { parsed, scheme, login: world.logins?.[parsed.host] };
}

const packPush: Command = {
  spec: {
    path: "pack push",
    usage: "smolvm pack push --file <PATH> <REFERENCE>",
    options: [{ long: "--file", short: "-f", value: "<PATH>", required: true }],
    positionals: ["<REFERENCE>"],
  },
  async run(args, world) {
    const file = args.values.get("--file")!;
    if (!(await exists(file))) {
      throw new SmolvmError(`agent operation failed: push: file not found: ${file}`);
    }
    const { parsed, scheme, login } = registryTarget(present(args.positionals[0]), world);
    const tag = parsed.tag ?? "latest";
    stderr(`Pushing ${file} to ${parsed.host}/${parsed.repository}:${tag}`);
    // smolvm-registry's push reads the pack manifest from the sidecar's footer
    // (read_manifest_from_sidecar, src): a file that is not a pack is refused.
    if ((await artifactPlatform(file)) === "unknown") {
      throw new SmolvmError(
        "agent operation failed: registry push: pack format error: invalid magic: expected " +
          "SMOLPACK",
      );
    }
    const blob = await Deno.readFile(file);
    const manifest = {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: ARTIFACT_TYPE,
      config: { mediaType: "application/vnd.smolmachines.machine.config.v1+json" },
      annotations: { "platform": await artifactPlatform(file) },
    };
    try {
      const pushed = await push({ ...parsed, tag }, scheme, login, manifest, blob);
      stderr(
        `Pushed successfully\n  Layer:    ${pushed.layer.digest} (${pushed.layer.size} bytes)\n` +
          `  Manifest: ${pushed.digest}`,
      );
    } catch (error) {
      if (error instanceof RegistryError) throw registryMessage("push", error);
      throw error;
    }
    return UNCHANGED;
  },
};

/** `linux/<arch>` of a `.smolmachine` the double wrote (its `manifest.json`), or `unknown`. */
async function artifactPlatform(file: string): Promise<string> {
  const out = await new Deno.Command("tar", {
    args: ["-xOf", resolve(file), "manifest.json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  try {
    const manifest = JSON.parse(new TextDecoder().decode(out.stdout));
    if (manifest?.format !== 1 || typeof manifest.arch !== "string") return "unknown";
    return `linux/${ociArch(manifest.arch)}`;
  } catch {
    return "unknown";
  }
}

const packPull: Command = {
  spec: {
    path: "pack pull",
    usage: "smolvm pack pull [OPTIONS] <REFERENCE>",
    options: [{ long: "--output", short: "-o", value: "<PATH>" }],
    positionals: ["<REFERENCE>"],
  },
  async run(args, world) {
    const { parsed, scheme, login } = registryTarget(present(args.positionals[0]), world);
    stderr(
      `Pulling ${parsed.host}/${parsed.repository}:${parsed.digest ?? parsed.tag ?? "latest"}`,
    );
    let pulled;
    try {
      pulled = await pull(parsed, scheme, login);
    } catch (error) {
      if (error instanceof RegistryError) throw registryMessage("pull", error);
      throw error;
    }
    if (pulled.manifest.artifactType !== ARTIFACT_TYPE) {
      // The double's own words: the real check of the artifact type was not read.
      throw new SmolvmError(
        `agent operation failed: registry pull: invalid manifest: artifactType ` +
          `'${pulled.manifest.artifactType ?? "none"}' is not '${ARTIFACT_TYPE}'`,
      );
    }
    const cache = Deno.env.get("XDG_CACHE_HOME") ??
      join(Deno.env.get("HOME") ?? "/root", ".cache");
    const dest = args.values.get("--output") ??
      join(cache, "smolvm", "blobs", `${pulled.digest.slice(7)}.smolmachine`);
    await Deno.mkdir(dirname(resolve(dest)), { recursive: true });
    await Deno.writeFile(dest, pulled.blob);
    stderr(`Pulled successfully -> ${dest} (${pulled.blob.length} bytes)`);
    const platform = (pulled.manifest.annotations as Record<string, string> | undefined)
      ?.platform;
    const current = `linux/${ociArch(world.hostArch)}`;
    if (platform && platform !== current) {
      stderr(
        `Warning: this artifact was built for ${platform} and will not run on ${current} ` +
          `(current platform).\nTo run on ${current}, create a new pack:\n\n  ` +
          `smolvm pack create --image <image> -o <output>`,
      );
    }
    return UNCHANGED;
  },
};

/** A command's own exit status (`machine exec` of a failing command). */
class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
    this.name = "ExitStatus";
  }
}

// --- dispatch -----------------------------------------------------------------

/** The command `args` names, its canonical path and its own arguments. */
function route(
  args: string[],
  world: SmolvmWorld,
): { command: Command; rest: string[] } | { version: true } {
  const nameIsFlag = atLeast(world.version, [1, 0, 2]);
  const groups: Record<string, { commands: Record<string, Command>; unsimulated: string[] }> = {
    machine: {
      commands: {
        ls: ls,
        list: ls,
        status,
        start: start(world),
        stop,
        create: create(nameIsFlag, world),
        exec,
        ...(checkpoints(world)
          ? { checkpoint: checkpointCommand, "checkpoint-log": checkpointLog }
          : {}),
        delete: remove(nameIsFlag),
        rm: remove(nameIsFlag),
      },
      unsimulated: [
        ...UNSIMULATED_MACHINE,
        ...(checkpoints(world) ? UNSIMULATED_CHECKPOINT : []),
      ],
    },
    pack: {
      commands: { create: packCreate(world), push: packPush, pull: packPull },
      unsimulated: UNSIMULATED_PACK,
    },
  };
  const [first, second, ...rest] = args;
  if (first === "--version" || first === "-V") return { version: true };
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    const help = "Usage: smolvm [OPTIONS] <COMMAND>\n\nCommands:\n  machine\n  pack";
    if (first === undefined) throw new UsageError(help);
    throw new HelpRequest(help);
  }
  const group = groups[first];
  if (!group) {
    if (first.startsWith("-")) {
      throw usageError(`unexpected argument '${first}' found`, "smolvm [OPTIONS] <COMMAND>");
    }
    throw usageError(`unrecognized subcommand '${first}'`, "smolvm [OPTIONS] <COMMAND>");
  }
  const usage = `smolvm ${first} <COMMAND>`;
  const names = [...Object.keys(group.commands), ...group.unsimulated]
    .filter((name) => !ALIASES.includes(name)).join(", ");
  if (second === undefined) {
    throw usageError(
      `'smolvm ${first}' requires a subcommand but one was not provided\n  [subcommands: ${names}]`,
      usage,
    );
  }
  if (second === "--help" || second === "-h") throw new HelpRequest(`Usage: ${usage}`);
  const command = group.commands[second];
  if (command) return { command, rest };
  if (group.unsimulated.includes(second)) throw notSimulated(`'smolvm ${first} ${second}'`);
  if (second.startsWith("-")) throw usageError(`unexpected argument '${second}' found`, usage);
  throw usageError(`unrecognized subcommand '${second}'`, usage);
}

/** The injected failure for this call, if the world has one (see `failures`). */
function injectedFailure(world: SmolvmWorld, words: string[]): string | undefined {
  const line = words.join(" ");
  for (const [key, message] of Object.entries(world.failures ?? {})) {
    if (line === key || line.startsWith(`${key} `)) return message;
  }
  return undefined;
}

/** Runs the double with `args`; returns the exit status. */
export async function main(args: string[], worldPath: string): Promise<number> {
  const read = async () => JSON.parse(await Deno.readTextFile(worldPath)) as SmolvmWorld;
  const write = (world: SmolvmWorld) => writeWorldFile(worldPath, world);
  // Record the call first: it must show even if the command is interrupted.
  const world = await read();
  world.calls.push([...args]);
  await write(world);
  try {
    const routed = route(args, world);
    if ("version" in routed) {
      const failure = injectedFailure(world, args);
      if (failure !== undefined) throw new SmolvmError(failure);
      stdout(`smolvm ${world.version}`);
      return 0;
    }
    const { command, rest } = routed;
    // `machine exec … -- CMD…`: the command after `--` is not parsed as options.
    const dashes = command === exec ? rest.indexOf("--") : -1;
    const parsed = parse(command.spec, dashes < 0 ? rest : rest.slice(0, dashes));
    if (command === exec) {
      parsed.command = dashes < 0 ? [] : rest.slice(dashes + 1);
      if (parsed.command.length === 0) {
        throw usageError(
          "the following required arguments were not provided:\n  <COMMAND>...",
          command.spec.usage,
        );
      }
    }
    const failure = injectedFailure(world, args) ??
      injectedFailure(world, [...command.spec.path.split(" "), ...rest]);
    if (failure !== undefined) throw new SmolvmError(failure);
    const outcome = await command.run(parsed, world);
    if (outcome.changed) await write(world);
    return 0;
  } catch (error) {
    if (error instanceof ExitStatus) return error.status;
    if (error instanceof HelpRequest) {
      stdout(error.message);
      return 0;
    }
    if (error instanceof UsageError) {
      stderr(error.message);
      return 2;
    }
    if (error instanceof SmolvmError) {
      stderr(`Error: ${error.message.replace(/^Error: /, "")}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  const worldPath = Deno.env.get("BOT_BOTTLE_DOUBLE_WORLD");
  if (!worldPath) {
    stderr("smolvm test double: BOT_BOTTLE_DOUBLE_WORLD is not set");
    Deno.exit(101);
  }
  try {
    Deno.exit(await main(Deno.args, worldPath));
  } catch (error) {
    // A bug in the double or its world, not smolvm behaviour: exit as a Rust panic would.
    stderr(`smolvm test double: internal error: ${error instanceof Error ? error.stack : error}`);
    Deno.exit(101);
  }
}
