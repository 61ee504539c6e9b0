// The `smolvm` double (smolvm.ts) through the harness, as the freezer runs
// it: it must accept what smolvm accepts and refuse what smolvm refuses, with
// smolvm's exit statuses and words (backend-cli-facts.md, "smolvm").

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { type Doubles, installDoubles } from "./harness.ts";
import {
  defaultSmolvmWorld,
  type FakeMachine,
  fakeMachine,
  type SmolvmWorld,
} from "./smolvm_world.ts";
import { present } from "../_helpers/present.ts";
import { blobStore, storeBlob } from "./blobs.ts";

const NAME = "bot-bottle-vm-x7k2p";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Doubles whose smolvm world has `machines` and `world`'s other fields. */
function withMachines(
  machines: Partial<FakeMachine>[],
  world: Partial<SmolvmWorld> = {},
): Promise<Doubles> {
  return installDoubles({
    smolvm: {
      ...defaultSmolvmWorld(),
      machines: machines.map((machine) => fakeMachine("vm-x7k2p", machine)),
      ...world,
    },
  });
}

/** Starts `smolvm ...args` from the doubles' PATH, in `<dir>/work` unless told otherwise. */
async function start(
  doubles: Doubles,
  args: string[],
  options: { cwd?: string; input?: string } = {},
): Promise<Deno.ChildProcess> {
  const cwd = options.cwd ?? join(doubles.dir, "work");
  await Deno.mkdir(cwd, { recursive: true });
  const child = new Deno.Command("smolvm", {
    args,
    cwd,
    env: doubles.env,
    stdin: options.input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.input));
    await writer.close();
  }
  return child;
}

async function finish(child: Deno.ChildProcess): Promise<Run> {
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function smolvm(
  doubles: Doubles,
  args: string[],
  options: { cwd?: string; input?: string } = {},
): Promise<Run> {
  return await finish(await start(doubles, args, options));
}

async function machines(doubles: Doubles): Promise<FakeMachine[]> {
  return (await doubles.smolvm.read()).machines;
}

async function stateOf(doubles: Doubles, name = NAME): Promise<string | undefined> {
  return (await machines(doubles)).find((machine) => machine.name === name)?.state;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function tar(...args: string[]): Promise<string> {
  const output = await new Deno.Command("tar", { args, stdout: "piped", stderr: "piped" })
    .output();
  equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

function succeeded(run: Run): void {
  equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
}

/** smolvm's runtime error: exactly `Error: <message>` on stderr, exit 1, nothing on stdout. */
function failedWith(run: Run, message: string): void {
  equal(run.stderr, `Error: ${message}\n`);
  equal(run.code, 1);
}

const RUNNING_REFUSAL = `agent operation failed: pack from VM: VM '${NAME}' is running. ` +
  `Stop it first with: smolvm machine stop --name ${NAME}`;

Deno.test("smolvm --version prints the world's version", async () => {
  await using doubles = await installDoubles({
    smolvm: { ...defaultSmolvmWorld(), version: "1.0.1" },
  });
  const run = await smolvm(doubles, ["--version"]);
  succeeded(run);
  equal(run.stdout, "smolvm 1.0.1\n");
});

Deno.test("smolvm records every call in order, refused ones included", async () => {
  await using doubles = await withMachines([{}]);
  await smolvm(doubles, ["machine", "ls", "--json"]);
  await smolvm(doubles, ["machine", "stop", "--bogus"]);
  await smolvm(doubles, ["pack", "create", "--from-vm", "nope", "-o", "out"]);
  deepStrictEqual((await doubles.smolvm.read()).calls, [
    ["machine", "ls", "--json"],
    ["machine", "stop", "--bogus"],
    ["pack", "create", "--from-vm", "nope", "-o", "out"],
  ]);
});

Deno.test("smolvm machine ls --json prints [] without machines, and name and state for each", async () => {
  await using empty = await withMachines([]);
  const none = await smolvm(empty, ["machine", "ls", "--json"]);
  succeeded(none);
  deepStrictEqual(JSON.parse(none.stdout), []);

  await using doubles = await withMachines([{}, { name: "other", state: "stopped" }]);
  const run = await smolvm(doubles, ["machine", "ls", "--json"]);
  succeeded(run);
  const listed = JSON.parse(run.stdout) as Record<string, unknown>[];
  deepStrictEqual(
    listed.map(({ name, state }) => ({ name, state })),
    [{ name: NAME, state: "running" }, { name: "other", state: "stopped" }],
  );
  equal(typeof listed[0]?.cpus, "number");
  equal(typeof listed[0]?.memory_mib, "number");

  const table = await smolvm(doubles, ["machine", "list"]);
  succeeded(table);
  match(table.stdout, /^NAME +STATE/);
  match(table.stdout, new RegExp(`\n${NAME} +running `));
});

Deno.test("smolvm machine status --json gives one machine; a missing one is not found", async () => {
  await using doubles = await withMachines([{ state: "frozen" }]);
  const run = await smolvm(doubles, ["machine", "status", "--name", NAME, "--json"]);
  succeeded(run);
  const shown = JSON.parse(run.stdout) as Record<string, unknown>;
  equal(shown.name, NAME);
  equal(shown.state, "frozen");
  failedWith(
    await smolvm(doubles, ["machine", "status", "--name", "nope", "--json"]),
    "vm not found: nope",
  );
});

Deno.test("smolvm machine stop prints both lines, and stopping again says it is not running", async () => {
  await using doubles = await withMachines([{}]);
  const first = await smolvm(doubles, ["machine", "stop", "--name", NAME]);
  succeeded(first);
  equal(first.stdout, `Stopping machine '${NAME}'...\nStopped machine: ${NAME}\n`);
  equal(await stateOf(doubles), "stopped");
  const again = await smolvm(doubles, ["machine", "stop", "--name", NAME]);
  succeeded(again);
  equal(again.stdout, `Machine '${NAME}' is not running (state: stopped)\n`);
  equal(again.stderr, "");
  equal(await stateOf(doubles), "stopped");
});

Deno.test("smolvm machine stop of a missing machine is not found", async () => {
  await using doubles = await withMachines([]);
  failedWith(await smolvm(doubles, ["machine", "stop", "--name", NAME]), `vm not found: ${NAME}`);
});

Deno.test("smolvm machine stop without --name acts on the machine named default", async () => {
  await using doubles = await withMachines([{}]);
  failedWith(await smolvm(doubles, ["machine", "stop"]), "vm not found: default");
  equal(await stateOf(doubles), "running", "the named machine is untouched");
  await doubles.smolvm.update((world) => {
    world.machines.push(fakeMachine("x", { name: "default" }));
  });
  const run = await smolvm(doubles, ["machine", "stop"]);
  succeeded(run);
  equal(run.stdout, "Stopping machine 'default'...\nStopped machine: default\n");
  equal(await stateOf(doubles, "default"), "stopped");
  equal(await stateOf(doubles), "running");
});

Deno.test("smolvm machine start starts a stopped machine; a missing one is not found", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const run = await smolvm(doubles, ["machine", "start", "--name", NAME]);
  succeeded(run);
  equal(run.stdout, `Starting machine '${NAME}'...\nStarted machine: ${NAME}\n`);
  equal(await stateOf(doubles), "running");
  failedWith(await smolvm(doubles, ["machine", "start", "--name", "nope"]), "vm not found: nope");
  failedWith(await smolvm(doubles, ["machine", "start"]), "vm not found: default");
});

Deno.test("smolvm pack create refuses -o ending in .smolmachine from 1.7.0 and writes nothing", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const work = join(doubles.dir, "work");
  const run = await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "x.smolmachine"]);
  failedWith(
    run,
    "config operation failed: pack create: --output names the executable stub, not the " +
      ".smolmachine sidecar (which is created automatically as '<output>.smolmachine'). " +
      "Use --output x instead.",
  );
  deepStrictEqual(await Array.fromAsync(Deno.readDir(work)), []);
  await using old = await withMachines([{ state: "stopped" }], { version: "1.6.13" });
  succeeded(await smolvm(old, ["pack", "create", "--from-vm", NAME, "-o", "x.smolmachine"]));
  ok(await exists(join(old.dir, "work", "x.smolmachine.smolmachine")));
});

for (const state of ["running", "frozen"] as const) {
  Deno.test(`smolvm pack create refuses a ${state} machine with smolvm's words`, async () => {
    await using doubles = await withMachines([{ state }]);
    const run = await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]);
    failedWith(run, RUNNING_REFUSAL);
    equal(run.stdout, "");
    equal(await exists(join(doubles.dir, "work", "out")), false);
    equal(await stateOf(doubles), state);
  });
}

for (const state of ["failed", "unreachable"] as const) {
  Deno.test(`smolvm pack create refuses a ${state} machine`, async () => {
    await using doubles = await withMachines([{ state }]);
    const run = await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]);
    equal(run.code, 1);
    match(
      run.stderr,
      new RegExp(`^Error: agent operation failed: pack from VM: VM '${NAME}' is .*${state}`),
    );
    equal(await exists(join(doubles.dir, "work", "out")), false);
  });
}

Deno.test("smolvm pack create of a missing machine says it is not found", async () => {
  await using doubles = await withMachines([]);
  failedWith(
    await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]),
    `agent operation failed: pack from VM: VM '${NAME}' not found`,
  );
});

Deno.test("smolvm pack create writes an executable stub and a tar artifact, relative to the cwd", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const work = join(doubles.dir, "work");
  const run = await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "snap"]);
  succeeded(run);
  match(run.stdout, /\nPacked: snap \(stub: \d+KB, total: \d+KB\)\n/);
  match(run.stdout, /\nAssets: snap\.smolmachine \(\d+KB compressed\)\n/);
  const stub = join(work, "snap");
  ok(((await Deno.stat(stub)).mode! & 0o111) !== 0, "the stub is executable");
  match(await Deno.readTextFile(stub), /^#!\/bin\/sh\n/);
  const artifact = `${stub}.smolmachine`;
  deepStrictEqual(
    (await tar("-tf", artifact)).split("\n").filter((line) => line && !line.endsWith("/"))
      .sort(),
    ["manifest.json", "rootfs/etc/hostname", "rootfs/work/notes.txt"],
    "no workspace/ without --include-workspace",
  );
  deepStrictEqual(JSON.parse(await tar("-xOf", artifact, "manifest.json")), {
    format: 1,
    arch: "x86_64",
    from: NAME,
    network: true,
  });
  equal(await tar("-xOf", artifact, "rootfs/work/notes.txt"), "agent work\n");
  equal(await stateOf(doubles), "stopped", "packing does not change the machine");
  deepStrictEqual(await Array.fromAsync(Deno.readDir(doubles.tmp)), [], "no temp files left");
});

Deno.test("smolvm up to 1.16.0: pack create of a registry machine without network fails and writes nothing", async () => {
  await using doubles = await withMachines([{ state: "stopped", source: "registry" }], {
    network: false,
    version: "1.9.3",
  });
  const run = await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]);
  equal(run.code, 1);
  match(run.stderr, /^Error: agent operation failed: pull image: .*network unreachable/);
  equal(await exists(join(doubles.dir, "work", "out")), false);
  equal(await exists(join(doubles.dir, "work", "out.smolmachine")), false);
});

Deno.test("smolvm pack create of a .smolmachine machine needs no network", async () => {
  await using doubles = await withMachines([{ state: "stopped", source: "smolmachine" }], {
    network: false,
  });
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]));
  ok(await exists(join(doubles.dir, "work", "out.smolmachine")));
});

Deno.test("smolvm pack create refuses a machine made from a local image archive", async () => {
  await using doubles = await withMachines([{
    state: "stopped",
    source: "local-archive",
    image: "local:0123abcd",
  }]);
  failedWith(
    await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]),
    `agent operation failed: pack from VM: VM '${NAME}' was created from a local image ` +
      `(local:0123abcd). \`pack create --from-vm\` can only snapshot VMs created from a ` +
      `REGISTRY image — local archives and rootfs directories are flattened on boot and have ` +
      `no registry manifest to re-pull. Recreate the machine from a registry reference to pack it.`,
  );
  equal(await exists(join(doubles.dir, "work", "out")), false);
});

Deno.test("smolvm from 1.16.1 packs a registry machine from cached layers, without network", async () => {
  await using doubles = await withMachines([{ state: "stopped", source: "registry" }], {
    network: false,
  });
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]));
  ok(await exists(join(doubles.dir, "work", "out.smolmachine")));
});

Deno.test("smolvm up to 1.16.0 refuses to pack a fork clone; from 1.16.1 packs it", async () => {
  await using old = await withMachines([{ state: "stopped", source: "fork", forkOf: "base" }], {
    version: "1.9.3",
  });
  failedWith(
    await smolvm(old, ["pack", "create", "--from-vm", NAME, "-o", "out"]),
    `agent operation failed: pack from VM: machine '${NAME}' is a fork clone of 'base'; its ` +
      `copy-on-write disks cannot be exported directly. Export the golden instead, or ` +
      `recreate the state in a non-clone machine and export that.`,
  );
  equal(await exists(join(old.dir, "work", "out")), false);
  await using current = await withMachines([{ state: "stopped", source: "fork" }]);
  succeeded(await smolvm(current, ["pack", "create", "--from-vm", NAME, "-o", "out"]));
});

Deno.test("smolvm pack create refuses a machine that was never started: it has no storage disk", async () => {
  await using doubles = await withMachines([{ state: "created" }]);
  const run = await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]);
  equal(run.code, 1);
  match(
    run.stderr,
    new RegExp(
      `^Error: agent operation failed: pack from VM: machine '${NAME}' has no storage disk yet ` +
        `\\(.*\\) — it has never been started\\. Start it once`,
    ),
  );
  equal(await exists(join(doubles.dir, "work", "out")), false);
});

Deno.test("smolvm pack create leaves /workspace out unless --include-workspace, which create --from restores", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const work = join(doubles.dir, "work");
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "bare"]));
  succeeded(
    await smolvm(doubles, [
      "pack",
      "create",
      "--from-vm",
      NAME,
      "--include-workspace",
      "-o",
      "full",
    ]),
  );
  equal(
    await tar("-xOf", join(work, "full.smolmachine"), "workspace/plan.md"),
    "the agent's plan\n",
  );
  const cases: [string, Record<string, string>][] = [
    ["bare", {}],
    ["full", { "plan.md": "the agent's plan\n" }],
  ];
  for (const [stem, workspace] of cases) {
    const name = `from-${stem}`;
    succeeded(
      await smolvm(doubles, ["machine", "create", "--name", name, "--from", `${stem}.smolmachine`]),
    );
    const made = (await machines(doubles)).find((machine) => machine.name === name);
    deepStrictEqual(made?.workspace, workspace, stem);
    equal(made?.network, true, "the pack's network setting is inherited");
  }
});

Deno.test("smolvm pack create --help lists --include-workspace only where it exists; elsewhere clap refuses it", async () => {
  await using current = await withMachines([{ state: "stopped" }]);
  const help = await smolvm(current, ["pack", "create", "--help"]);
  succeeded(help);
  match(help.stdout, /^Usage: smolvm pack create /);
  match(help.stdout, /\n {6}--include-workspace\n/);
  for (const world of [{ version: "1.9.3" }, { version: "1.25.4", includeWorkspace: false }]) {
    await using old = await withMachines([{ state: "stopped" }], world);
    const oldHelp = await smolvm(old, ["pack", "create", "--help"]);
    succeeded(oldHelp);
    match(oldHelp.stdout, /--from-vm <VM_NAME>/);
    equal(oldHelp.stdout.includes("--include-workspace"), false);
    const refused = await smolvm(old, [
      "pack",
      "create",
      "--from-vm",
      NAME,
      "--include-workspace",
      "-o",
      "out",
    ]);
    equal(refused.code, 2);
    match(refused.stderr, /^error: unexpected argument '--include-workspace' found\n/);
    equal(await exists(join(old.dir, "work", "out")), false);
  }
});

Deno.test("smolvm machine create --image of a registry image needs --net from 1.7.3; before, its start fails", async () => {
  await using current = await withMachines([]);
  const refused = await smolvm(current, [
    "machine",
    "create",
    "--name",
    "m",
    "--image",
    "alpine:3.20",
  ]);
  failedWith(
    refused,
    "config operation failed: create machine: image 'alpine:3.20' must be pulled from a " +
      "registry, but this machine has no network, so the pull can never succeed. Add --net (or " +
      "publish a port with -p, or set an egress policy with --allow-cidr/--allow-host). To keep " +
      "the machine network-isolated, supply the image locally instead: `docker save alpine:3.20 " +
      "| smolvm machine create --image - ...`",
  );
  deepStrictEqual(await machines(current), []);
  succeeded(
    await smolvm(current, ["machine", "create", "--name", "m", "--net", "--image", "alpine:3.20"]),
  );
  const [made] = await machines(current);
  deepStrictEqual([made?.source, made?.network, made?.state], ["registry", true, "created"]);
  succeeded(await smolvm(current, ["machine", "start", "--name", "m"]));
  const listed = JSON.parse((await smolvm(current, ["machine", "ls", "--json"])).stdout);
  equal(listed[0].network, true);
  deepStrictEqual(Object.keys(listed[0]), [...Object.keys(listed[0])].sort());

  await using old = await withMachines([], { version: "1.7.2" });
  succeeded(await smolvm(old, ["machine", "create", "--name", "m", "--image", "alpine:3.20"]));
  const start = await smolvm(old, ["machine", "start", "--name", "m"]);
  equal(start.code, 1);
  match(start.stderr, /^Error: agent operation failed: pull image: .*no such host\n$/);
  equal(await stateOf(old, "m"), "created");
});

Deno.test("smolvm machine create --from brings a packed machine back, which starts and packs", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const work = join(doubles.dir, "work");
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "snap"]));
  const run = await smolvm(doubles, [
    "machine",
    "create",
    "--name",
    "resumed",
    "--from",
    join(work, "snap.smolmachine"),
  ]);
  succeeded(run);
  match(run.stdout, /^Created machine: resumed\n/);
  const resumed = (await machines(doubles)).find((machine) => machine.name === "resumed");
  deepStrictEqual(resumed, {
    name: "resumed",
    state: "created",
    source: "smolmachine",
    arch: "x86_64",
    files: fakeMachine("vm-x7k2p").files,
    workspace: {},
    network: true,
  });
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "resumed"]));
  equal(await stateOf(doubles, "resumed"), "running");
  succeeded(await smolvm(doubles, ["machine", "stop", "--name", "resumed"]));
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", "resumed", "-o", "again"]));
  equal(await tar("-xOf", join(work, "again.smolmachine"), "rootfs/etc/hostname"), "vm-x7k2p\n");
});

Deno.test("smolvm keeps binary files in the blob store: a pack carries their bytes, create --from and exec cat give them back", async () => {
  await using doubles = await withMachines([]);
  const binary = new Uint8Array(4096).map((_, n) => (n * 151 + 7) % 256); // not UTF-8
  const path = join(doubles.dir, "data.bin");
  await Deno.writeFile(path, binary);
  const data = await storeBlob(blobStore(doubles.dir), path, { move: true });
  await doubles.smolvm.update((world) => {
    world.machines = [fakeMachine("vm-x7k2p", { state: "stopped", files: { "data.bin": data } })];
  });
  const work = join(doubles.dir, "work");
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "snap"]));
  const packed = await new Deno.Command("tar", {
    args: ["-xOf", join(work, "snap.smolmachine"), "rootfs/data.bin"],
    stdout: "piped",
  }).output();
  deepStrictEqual(packed.stdout, binary);
  const from = ["machine", "create", "--name", "resumed", "--from", join(work, "snap.smolmachine")];
  succeeded(await smolvm(doubles, from));
  const resumed = (await machines(doubles)).find((machine) => machine.name === "resumed");
  deepStrictEqual(resumed?.files, { "data.bin": data });
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "resumed"]));
  const cat = await new Deno.Command("smolvm", {
    args: ["machine", "exec", "--name", "resumed", "--", "cat", "/data.bin"],
    env: doubles.env,
    stdout: "piped",
  }).output();
  deepStrictEqual(cat.stdout, binary);
});

Deno.test("smolvm machine create --from a missing file says so", async () => {
  await using doubles = await withMachines([]);
  failedWith(
    await smolvm(doubles, ["machine", "create", "--name", "new", "--from", "gone.smolmachine"]),
    "config operation failed: create from .smolmachine: file not found: gone.smolmachine",
  );
  deepStrictEqual(await machines(doubles), []);
});

Deno.test("smolvm machine create --from refuses an artifact of another CPU architecture", async () => {
  await using doubles = await withMachines([{ state: "stopped", arch: "aarch64" }]);
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "arm"]));
  const run = await smolvm(doubles, [
    "machine",
    "create",
    "--name",
    "new",
    "--from",
    "arm.smolmachine",
  ]);
  equal(run.code, 1);
  match(
    run.stderr,
    /^Error: agent operation failed: platform mismatch: this artifact is built for architecture 'arm64' .* this host is 'amd64'/,
  );
  deepStrictEqual((await machines(doubles)).map((machine) => machine.name), [NAME]);
});

Deno.test("smolvm machine create refuses a name that exists", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "snap"]));
  failedWith(
    await smolvm(doubles, ["machine", "create", "--name", NAME, "--from", "snap.smolmachine"]),
    `config operation failed: create machine: machine '${NAME}' already exists`,
  );
  equal((await machines(doubles)).length, 1);
});

Deno.test("smolvm before 1.0.2 takes the create and delete name positionally, and --name is unexpected", async () => {
  await using doubles = await withMachines([{ state: "stopped" }], { version: "1.0.1" });
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "snap"]));
  const flag = await smolvm(doubles, [
    "machine",
    "create",
    "--name",
    "new",
    "--from",
    "snap.smolmachine",
  ]);
  equal(flag.code, 2);
  match(flag.stderr, /^error: unexpected argument '--name' found\n\nUsage: smolvm machine create/);
  succeeded(await smolvm(doubles, ["machine", "create", "new", "--from", "snap.smolmachine"]));
  equal(await stateOf(doubles, "new"), "created");
  equal((await smolvm(doubles, ["machine", "delete", "--name", "new", "-f"])).code, 2);
  succeeded(await smolvm(doubles, ["machine", "delete", "new", "-f"]));
  equal(await stateOf(doubles, "new"), undefined);
});

Deno.test("smolvm from 1.0.2 refuses a positional create or delete name", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", "snap"]));
  const create = await smolvm(doubles, ["machine", "create", "new", "--from", "snap.smolmachine"]);
  equal(create.code, 2);
  match(create.stderr, /^error: unexpected argument 'new' found\n/);
  const remove = await smolvm(doubles, ["machine", "delete", NAME, "-f"]);
  equal(remove.code, 2);
  match(remove.stderr, new RegExp(`^error: unexpected argument '${NAME}' found\n`));
  equal(await stateOf(doubles), "stopped");
});

Deno.test("smolvm machine delete without -f stops the machine, asks, and cancels on no answer", async () => {
  await using doubles = await withMachines([{}]);
  const run = await smolvm(doubles, ["machine", "delete", "--name", NAME]);
  succeeded(run);
  equal(run.stdout, `Stopping machine '${NAME}'...\nCancelled\n`);
  equal(run.stderr, `Delete machine '${NAME}'? [y/N] `);
  equal(await stateOf(doubles), "stopped", "the machine is stopped but kept");
  const declined = await smolvm(doubles, ["machine", "delete", "--name", NAME], { input: "n\n" });
  succeeded(declined);
  equal(declined.stdout, "Cancelled\n");
  equal(await stateOf(doubles), "stopped");
  const accepted = await smolvm(doubles, ["machine", "rm", "--name", NAME], { input: "y\n" });
  succeeded(accepted);
  equal(accepted.stdout, `Deleted machine: ${NAME}\n`);
  deepStrictEqual(await machines(doubles), []);
});

Deno.test("smolvm machine delete -f stops a running machine and deletes it; a missing one is not found", async () => {
  await using doubles = await withMachines([{}]);
  const run = await smolvm(doubles, ["machine", "delete", "--name", NAME, "-f"]);
  succeeded(run);
  equal(run.stdout, `Stopping machine '${NAME}'...\nDeleted machine: ${NAME}\n`);
  deepStrictEqual(await machines(doubles), []);
  failedWith(
    await smolvm(doubles, ["machine", "delete", "--name", NAME, "-f"]),
    `vm not found: ${NAME}`,
  );
});

Deno.test("smolvm argument errors are clap's, with exit status 2", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const unknown = await smolvm(doubles, ["machine", "stop", "--name", NAME, "--bogus"]);
  equal(unknown.code, 2);
  equal(
    unknown.stderr,
    "error: unexpected argument '--bogus' found\n\nUsage: smolvm machine stop [OPTIONS]\n\n" +
      "For more information, try '--help'.\n",
  );
  equal(await stateOf(doubles), "stopped");

  const noOutput = await smolvm(doubles, ["pack", "create", "--from-vm", NAME]);
  equal(noOutput.code, 2);
  match(
    noOutput.stderr,
    /^error: the following required arguments were not provided:\n {2}--output <PATH>\n\nUsage: smolvm pack create /,
  );

  const noValue = await smolvm(doubles, ["machine", "stop", "--name"]);
  equal(noValue.code, 2);
  match(noValue.stderr, /^error: a value is required for '--name <NAME>' but none was supplied\n/);

  const subcommand = await smolvm(doubles, ["machine", "freeze"]);
  equal(subcommand.code, 2);
  match(subcommand.stderr, /^error: unrecognized subcommand 'freeze'\n\nUsage: smolvm machine /);

  const twice = await smolvm(doubles, ["machine", "stop", "--name", NAME, "--name", NAME]);
  equal(twice.code, 2);
  match(twice.stderr, /^error: the argument '--name <NAME>' cannot be used multiple times\n/);
});

Deno.test("smolvm failures make the matching command fail with Error: and exit 1, and nothing else", async () => {
  await using doubles = await withMachines([{}], {
    failures: { "machine stop": "failed to stop machine: agent not responding" },
  });
  failedWith(
    await smolvm(doubles, ["machine", "stop", "--name", NAME]),
    "failed to stop machine: agent not responding",
  );
  equal(await stateOf(doubles), "running");
  succeeded(await smolvm(doubles, ["machine", "ls", "--json"]));
  succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME]));
});

Deno.test("smolvm pack create sleeps packDelayMs after recording the call, so an interrupt leaves nothing", async () => {
  await using doubles = await withMachines([{ state: "stopped" }], { packDelayMs: 30_000 });
  const child = await start(doubles, ["pack", "create", "--from-vm", NAME, "-o", "out"]);
  for (let waited = 0;; waited += 50) {
    const { calls } = await doubles.smolvm.read();
    if (calls.some((call) => call[0] === "pack")) break;
    if (waited > 20_000) throw new Error("the pack call was never recorded");
    await new Promise((done) => setTimeout(done, 50));
  }
  await new Promise((done) => setTimeout(done, 300));
  child.kill("SIGTERM");
  const run = await finish(child);
  equal(run.code, 143);
  equal(await exists(join(doubles.dir, "work", "out")), false);
  equal(await exists(join(doubles.dir, "work", "out.smolmachine")), false);
  deepStrictEqual((await doubles.smolvm.read()).calls, [
    ["pack", "create", "--from-vm", NAME, "-o", "out"],
  ]);
});

// --- memory, checkpoints, registries ---------------------------------------------

const BOOT_ID = "/proc/sys/kernel/random/boot_id";

/** `machine exec --name NAME -- cat PATH` of a running machine: the file's content. */
async function readIn(doubles: Doubles, path: string, name = NAME): Promise<string> {
  const run = await smolvm(doubles, ["machine", "exec", "--name", name, "--", "cat", path]);
  succeeded(run);
  return run.stdout;
}

async function writeIn(doubles: Doubles, path: string, text: string, name = NAME): Promise<void> {
  succeeded(
    await smolvm(doubles, ["machine", "exec", "--name", name, "-i", "--", "tee", path], {
      input: text,
    }),
  );
}

/** A stopped machine of the default world, started branchable, with `/run/agent` in memory. */
async function branchableMachine(world: Partial<SmolvmWorld> = {}): Promise<Doubles> {
  const doubles = await withMachines([{ state: "stopped" }], world);
  succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME, "--branchable"]));
  await writeIn(doubles, "/run/agent", "pid 42, turn 7\n");
  return doubles;
}

Deno.test("smolvm machine exec reads and writes memory, /workspace and the root filesystem; a fresh boot loses memory", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const stopped = await smolvm(doubles, ["machine", "exec", "--name", NAME, "--", "cat", "/x"]);
  failedWith(
    stopped,
    `machine '${NAME}' is not running. Use 'smolvm machine start --name ${NAME}' first.`,
  );
  succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME]));
  const boot = await readIn(doubles, BOOT_ID);
  match(boot, /^[0-9a-f-]{36}\n$/);
  await writeIn(doubles, "/run/agent", "alive\n");
  await writeIn(doubles, "/workspace/new.txt", "disk\n");
  equal(await readIn(doubles, "/run/agent"), "alive\n");
  equal(await readIn(doubles, "/workspace/plan.md"), "the agent's plan\n");
  equal(await readIn(doubles, "/work/notes.txt"), "agent work\n");
  const missing = await smolvm(doubles, ["machine", "exec", "--name", NAME, "--", "cat", "/nope"]);
  deepStrictEqual([missing.code, missing.stderr], [1, "cat: /nope: No such file or directory\n"]);
  succeeded(await smolvm(doubles, ["machine", "stop", "--name", NAME]));
  succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME]));
  ok((await readIn(doubles, BOOT_ID)) !== boot, "a fresh boot has a new boot id");
  const gone = await smolvm(doubles, [
    "machine",
    "exec",
    "--name",
    NAME,
    "--",
    "cat",
    "/run/agent",
  ]);
  equal(gone.code, 1, "a stop loses /run");
  equal(await readIn(doubles, "/workspace/new.txt"), "disk\n", "the storage disk persists");
});

Deno.test("smolvm machine start --branchable (alias --forkable) shows as forkable until the machine stops", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  const forkable = async () =>
    JSON.parse((await smolvm(doubles, ["machine", "status", "--name", NAME, "--json"])).stdout)
      .forkable;
  for (const flag of ["--branchable", "--forkable"]) {
    succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME, flag]));
    equal(await forkable(), true, flag);
    succeeded(await smolvm(doubles, ["machine", "stop", "--name", NAME]));
    equal(await forkable(), false, "decided at start: a stop clears it");
  }
  succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME]));
  equal(await forkable(), false);
});

Deno.test("smolvm machine checkpoint captures a running branchable machine, which keeps running", async () => {
  await using doubles = await branchableMachine();
  const boot = await readIn(doubles, BOOT_ID);
  const out = join(doubles.dir, "a.smolcheckpoint");
  const run = await smolvm(doubles, ["machine", "checkpoint", "--name", NAME, "-o", out]);
  succeeded(run);
  match(run.stdout, /Source resumed after 0\.024s; packaging continued in the background/);
  equal(await stateOf(doubles), "running");
  equal(await readIn(doubles, BOOT_ID), boot, "the source kept running: same boot");
  ok((await Deno.stat(out)).isFile);
});

Deno.test("smolvm machine create --from a checkpoint resumes its memory and disks; a later start boots fresh", async () => {
  await using doubles = await branchableMachine();
  const boot = await readIn(doubles, BOOT_ID);
  await writeIn(doubles, "/workspace/work.txt", "written before the checkpoint\n");
  const out = join(doubles.dir, "a.smolcheckpoint");
  succeeded(await smolvm(doubles, ["machine", "checkpoint", "--name", NAME, "-o", out]));
  succeeded(await smolvm(doubles, ["machine", "delete", "--name", NAME, "-f"]));
  succeeded(await smolvm(doubles, ["machine", "create", "--name", "back", "--from", out]));
  equal(await stateOf(doubles, "back"), "created");
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "back"]));
  equal(await readIn(doubles, BOOT_ID, "back"), boot, "resumed, not booted");
  equal(await readIn(doubles, "/run/agent", "back"), "pid 42, turn 7\n");
  equal(await readIn(doubles, "/workspace/work.txt", "back"), "written before the checkpoint\n");
  equal(await readIn(doubles, "/work/notes.txt", "back"), "agent work\n");
  succeeded(await smolvm(doubles, ["machine", "stop", "--name", "back"]));
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "back"]));
  ok((await readIn(doubles, BOOT_ID, "back")) !== boot, "only the first start resumes");
});

Deno.test("smolvm a pack carries no memory: create --from a pack boots fresh", async () => {
  await using doubles = await branchableMachine();
  const boot = await readIn(doubles, BOOT_ID);
  succeeded(await smolvm(doubles, ["machine", "stop", "--name", NAME]));
  const stub = join(doubles.dir, "p");
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", stub]));
  succeeded(
    await smolvm(doubles, ["machine", "create", "--name", "p", "--from", `${stub}.smolmachine`]),
  );
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "p"]));
  ok((await readIn(doubles, BOOT_ID, "p")) !== boot);
  equal(
    (await smolvm(doubles, ["machine", "exec", "--name", "p", "--", "cat", "/run/agent"])).code,
    1,
  );
});

Deno.test("smolvm machine checkpoint refuses a stopped and a mount-holding machine with the facts' words, writing nothing", async () => {
  await using doubles = await withMachines([
    { state: "stopped" },
    { name: "mounted", branchable: true, mounts: ["/home/me/src:/src"] },
    { name: "both", branchable: true, mounts: ["/a:/a"], publishedSockets: ["/tmp/s.sock"] },
  ]);
  const out = join(doubles.dir, "x.smolcheckpoint");
  const capture = (name: string) =>
    smolvm(doubles, ["machine", "checkpoint", "--name", name, "-o", out]);
  failedWith(
    await capture(NAME),
    `machine '${NAME}' is not running. Use 'smolvm machine start --name ${NAME}' first.`,
  );
  failedWith(
    await capture("mounted"),
    "the initial portable checkpoint profile does not support a host mount (-v); " +
      "stop or detach these resources before capture",
  );
  failedWith(
    await capture("both"),
    "the initial portable checkpoint profile does not support a host mount (-v), a published " +
      "socket; stop or detach these resources before capture",
  );
  failedWith(await capture("nope"), "vm not found: nope");
  equal(await exists(out), false);
  deepStrictEqual((await machines(doubles)).map((each) => each.state), [
    "stopped",
    "running",
    "running",
  ]);
});

Deno.test("smolvm on Linux checkpoints a machine not started branchable (smolvm's docs: Linux needs no --branchable)", async () => {
  await using doubles = await withMachines([{ state: "stopped" }]);
  succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME]));
  const out = join(doubles.dir, "x.smolcheckpoint");
  succeeded(await smolvm(doubles, ["machine", "checkpoint", "--name", NAME, "-o", out]));
  ok((await Deno.stat(out)).isFile);
});

Deno.test("smolvm on macOS a non-branchable capture fails: every one before 1.20.0, a --store one after", async () => {
  const capture = (doubles: Doubles, ...extra: string[]) =>
    smolvm(doubles, [
      "machine",
      "checkpoint",
      "--name",
      NAME,
      "-o",
      join(doubles.dir, "x.smolcheckpoint"),
      ...extra,
    ]);
  {
    await using doubles = await withMachines([{}], { version: "1.19.1", hostOs: "macos" });
    const run = await capture(doubles);
    equal(run.code, 1);
    match(run.stderr, /^Error: .*guest RAM has no file-backed regions\n$/);
  }
  await using doubles = await withMachines([{}], { version: "1.22.2", hostOs: "macos" });
  const stored = await capture(doubles, "--store", join(doubles.dir, "store"));
  equal(stored.code, 1);
  match(stored.stderr, /^Error: .*deferred durable save requires file-backed guest RAM\n$/);
  equal(await exists(join(doubles.dir, "x.smolcheckpoint")), false);
  succeeded(await capture(doubles));
});

Deno.test("smolvm machine checkpoint -o takes .smolcheckpoint, and .checkpoint from 1.19.1", async () => {
  for (
    const [version, accepted] of [["1.19.0", false], ["1.19.1", true], ["1.25.4", true]] as const
  ) {
    await using doubles = await branchableMachine({ version });
    const out = join(doubles.dir, "a.checkpoint");
    const run = await smolvm(doubles, ["machine", "checkpoint", "--name", NAME, "-o", out]);
    equal(run.code, accepted ? 0 : 1, `${version}: ${run.stderr}`);
    equal(await exists(out), accepted);
    const other = await smolvm(doubles, [
      "machine",
      "checkpoint",
      "--name",
      NAME,
      "-o",
      join(doubles.dir, "a.tar"),
    ]);
    equal(other.code, 1);
    match(other.stderr, /--output must end in `\.smolcheckpoint`/);
  }
});

Deno.test("smolvm checkpoints to one path keep --history generations; checkpoint-log lists them; --at picks one", async () => {
  await using doubles = await branchableMachine();
  const out = join(doubles.dir, "g.smolcheckpoint");
  for (const turn of ["1", "2", "3"]) {
    await writeIn(doubles, "/run/agent", `turn ${turn}\n`);
    succeeded(
      await smolvm(doubles, ["machine", "checkpoint", "--name", NAME, "-o", out, "--history", "2"]),
    );
  }
  const log = await smolvm(doubles, ["machine", "checkpoint-log", out]);
  succeeded(log);
  const lines = log.stdout.trim().split("\n");
  equal(lines.length, 2, "--history 2 keeps two");
  match(present(lines[0]), new RegExp(`^~0 [0-9a-f]{12} \\S+ ${NAME} 8192 MiB$`));
  match(present(lines[1]), /^~1 /);
  succeeded(
    await smolvm(doubles, ["machine", "create", "--name", "old", "--from", out, "--at", "~1"]),
  );
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "old"]));
  equal(await readIn(doubles, "/run/agent", "old"), "turn 2\n");
  succeeded(await smolvm(doubles, ["machine", "create", "--name", "new", "--from", out]));
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "new"]));
  equal(await readIn(doubles, "/run/agent", "new"), "turn 3\n");
  const beyond = await smolvm(doubles, [
    "machine",
    "create",
    "--name",
    "x",
    "--from",
    out,
    "--at",
    "~2",
  ]);
  equal(beyond.code, 1);
  match(beyond.stderr, /no generation ~2/);
  equal(await stateOf(doubles, "x"), undefined);
});

Deno.test("smolvm machine checkpoint --store writes a directory, which create --from takes", async () => {
  await using doubles = await branchableMachine();
  const out = join(doubles.dir, "d.smolcheckpoint");
  succeeded(
    await smolvm(doubles, [
      "machine",
      "checkpoint",
      "--name",
      NAME,
      "-o",
      out,
      "--store",
      join(doubles.dir, "store"),
    ]),
  );
  ok((await Deno.stat(out)).isDirectory);
  succeeded(await smolvm(doubles, ["machine", "create", "--name", "d", "--from", out]));
  succeeded(await smolvm(doubles, ["machine", "start", "--name", "d"]));
  equal(await readIn(doubles, "/run/agent", "d"), "pid 42, turn 7\n");
});

Deno.test("smolvm restore refuses another host platform and --cpus/--mem, creating nothing", async () => {
  await using doubles = await branchableMachine();
  const out = join(doubles.dir, "a.smolcheckpoint");
  succeeded(await smolvm(doubles, ["machine", "checkpoint", "--name", NAME, "-o", out]));
  await doubles.smolvm.update((world) => {
    world.hostArch = "aarch64";
  });
  failedWith(
    await smolvm(doubles, ["machine", "create", "--name", "n", "--from", out]),
    "checkpoint host platform 'linux/amd64' does not match 'linux/arm64'",
  );
  await doubles.smolvm.update((world) => {
    world.hostArch = "x86_64";
    world.hostOs = "macos";
  });
  failedWith(
    await smolvm(doubles, ["machine", "create", "--name", "n", "--from", out]),
    "checkpoint host platform 'linux/amd64' does not match 'darwin/amd64'",
  );
  await doubles.smolvm.update((world) => {
    delete world.hostOs;
  });
  const cpus = await smolvm(doubles, [
    "machine",
    "create",
    "--name",
    "n",
    "--from",
    out,
    "--cpus",
    "2",
  ]);
  equal(cpus.code, 1);
  match(cpus.stderr, /--cpus cannot be changed when restoring a checkpoint/);
  equal(await stateOf(doubles, "n"), undefined);
});

Deno.test("smolvm before 1.10.0 has no checkpoint, checkpoint-log, --branchable or --at: clap refuses them", async () => {
  await using doubles = await withMachines([{ state: "stopped" }], { version: "1.9.3" });
  for (const sub of ["checkpoint", "checkpoint-log"]) {
    const run = await smolvm(doubles, ["machine", sub, "--name", NAME]);
    equal(run.code, 2);
    match(run.stderr, new RegExp(`^error: unrecognized subcommand '${sub}'\n`));
  }
  const branchable = await smolvm(doubles, ["machine", "start", "--name", NAME, "--branchable"]);
  equal(branchable.code, 2);
  match(branchable.stderr, /^error: unexpected argument '--branchable' found\n/);
  equal(await stateOf(doubles), "stopped");
  succeeded(await smolvm(doubles, ["machine", "start", "--name", NAME, "--forkable"]));
  const at = await smolvm(doubles, [
    "machine",
    "create",
    "--name",
    "n",
    "--from",
    "x",
    "--at",
    "~0",
  ]);
  equal(at.code, 2);
  match(at.stderr, /^error: unexpected argument '--at' found\n/);
});

// --- pack push / pull ---

/** A `.smolmachine` of the default machine, packed in the doubles' dir. */
async function packed(doubles: Doubles): Promise<string> {
  succeeded(await smolvm(doubles, ["machine", "stop", "--name", NAME]));
  const stub = join(doubles.dir, "p");
  succeeded(await smolvm(doubles, ["pack", "create", "--from-vm", NAME, "-o", stub]));
  return `${stub}.smolmachine`;
}

const REF = "127.0.0.1:5000/team/dev:v1";

Deno.test("smolvm pack push then pack pull round-trips the artifact, content-addressed", async () => {
  await using doubles = await withMachines([{}]);
  const file = await packed(doubles);
  const pushed = await smolvm(doubles, ["pack", "push", REF, "-f", file]);
  succeeded(pushed);
  match(pushed.stderr, new RegExp(`^Pushing ${file} to 127\\.0\\.0\\.1:5000/team/dev:v1\n`));
  const digest = /Manifest: (sha256:[0-9a-f]{64})/.exec(pushed.stderr)?.[1];
  ok(digest, pushed.stderr);
  const again = await smolvm(doubles, ["pack", "push", "127.0.0.1:5000/team/dev:v2", "-f", file]);
  equal(
    /Manifest: (sha256:[0-9a-f]{64})/.exec(again.stderr)?.[1],
    digest,
    "same content, same digest",
  );
  const out = join(doubles.dir, "pulled.smolmachine");
  const pulled = await smolvm(doubles, ["pack", "pull", REF, "-o", out]);
  succeeded(pulled);
  match(pulled.stderr, /Pulled successfully -> .*pulled\.smolmachine \(\d+ bytes\)/);
  deepStrictEqual(await Deno.readFile(out), await Deno.readFile(file));
  const byDigest = join(doubles.dir, "d.smolmachine");
  succeeded(
    await smolvm(doubles, ["pack", "pull", `127.0.0.1:5000/team/dev@${digest}`, "-o", byDigest]),
  );
  deepStrictEqual(await Deno.readFile(byDigest), await Deno.readFile(file));
  succeeded(await smolvm(doubles, ["machine", "create", "--name", "again", "--from", out]));
});

Deno.test("smolvm pack push/pull refusals: missing file, not a pack, unreachable, unauthorized, unknown tag, tampered blob", async () => {
  await using doubles = await withMachines([{}]);
  const file = await packed(doubles);
  failedWith(
    await smolvm(doubles, ["pack", "push", REF, "-f", join(doubles.dir, "nope.smolmachine")]),
    `agent operation failed: push: file not found: ${join(doubles.dir, "nope.smolmachine")}`,
  );
  // Not a pack: smolvm reads the pack manifest from the file's footer.
  const plain = join(doubles.dir, "state.tar");
  await Deno.writeTextFile(plain, "not a pack");
  const notPack = await smolvm(doubles, ["pack", "push", REF, "-f", plain]);
  equal(notPack.code, 1);
  equal(
    notPack.stderr.split("\n").at(-2),
    "Error: agent operation failed: registry push: pack format error: invalid magic: expected " +
      "SMOLPACK",
  );
  const out = join(doubles.dir, "o.smolmachine");
  const pullFails = async (ref: string, message: string) => {
    const run = await smolvm(doubles, ["pack", "pull", ref, "-o", out]);
    equal(run.code, 1);
    equal(run.stderr.split("\n").at(-2), `Error: ${message}`);
    equal(await exists(out), false);
  };
  await pullFails(
    "127.0.0.1:5000/team/dev:none",
    "agent operation failed: registry pull: blob not found: team/dev:none",
  );
  await pullFails(
    "127.0.0.1:5999/team/dev:v1",
    "agent operation failed: registry pull: HTTP request failed: error sending request for url " +
      "(http://127.0.0.1:5999/v2/)",
  );
  await doubles.registry.write({ hosts: { "127.0.0.1:5000": { users: { ann: "pw" } } } });
  const push = await smolvm(doubles, ["pack", "push", REF, "-f", file]);
  equal(push.code, 1);
  equal(
    push.stderr.split("\n").at(-2),
    "Error: agent operation failed: registry push: registry authentication failed: " +
      'unsupported authenticate challenge: Basic realm="Registry Realm"',
  );
  await doubles.smolvm.update((world) => {
    world.logins = { "127.0.0.1:5000": { username: "ann", password: "pw" } };
  });
  succeeded(await smolvm(doubles, ["pack", "push", REF, "-f", file]));
  const blobs = join(doubles.registry.dir, "127.0.0.1:5000", "team/dev", "blobs");
  for await (const blob of Deno.readDir(blobs)) {
    await Deno.writeTextFile(join(blobs, blob.name), "tampered");
  }
  const run = await smolvm(doubles, ["pack", "pull", REF, "-o", out]);
  equal(run.code, 1);
  match(
    run.stderr,
    /Error: agent operation failed: registry pull: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}\n$/,
  );
  equal(await exists(out), false);
});

Deno.test("smolvm pack pull of an artifact for another CPU warns but writes it", async () => {
  await using doubles = await withMachines([{}]);
  const file = await packed(doubles);
  succeeded(await smolvm(doubles, ["pack", "push", REF, "-f", file]));
  await doubles.smolvm.update((world) => {
    world.hostArch = "aarch64";
  });
  const out = join(doubles.dir, "o.smolmachine");
  const run = await smolvm(doubles, ["pack", "pull", REF, "-o", out]);
  succeeded(run);
  match(
    run.stderr,
    /Warning: this artifact was built for linux\/amd64 and will not run on linux\/arm64/,
  );
  ok(await exists(out));
});

Deno.test("smolvm pack push uses https off loopback: an untrusted CA fails as reqwest reports it", async () => {
  await using doubles = await withMachines([{}], {});
  const file = await packed(doubles);
  await doubles.registry.write({
    hosts: {
      "r.example.com:5443": { tls: true, untrusted: true },
      "127.0.0.1:5000": { tls: true },
    },
  });
  failedWithLast(
    await smolvm(doubles, ["pack", "push", "r.example.com:5443/team/dev:v1", "-f", file]),
    "agent operation failed: registry push: HTTP request failed: error sending request for url " +
      "(https://r.example.com:5443/v2/)",
  );
  failedWithLast(
    await smolvm(doubles, ["pack", "push", REF, "-f", file]),
    "agent operation failed: registry push: registry returned 400: Client sent an HTTP request " +
      "to an HTTPS server.",
  );
  await doubles.registry.write({ hosts: { "r.example.com:5443": { tls: true } } });
  succeeded(await smolvm(doubles, ["pack", "push", "r.example.com:5443/team/dev:v1", "-f", file]));
});

/** A failure after progress lines: the last stderr line is `Error: <message>`, exit 1. */
function failedWithLast(run: Run, message: string): void {
  equal(run.code, 1);
  equal(run.stderr.split("\n").at(-2), `Error: ${message}`);
}
