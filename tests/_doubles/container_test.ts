// Tests of the Apple `container` double itself (container.ts), run through
// the harness as the tests of the freezer run it: they prove that it refuses
// what the real CLI refuses, with the same status and text, and that what it
// accepts has the effects the real CLI has.

import assert from "node:assert/strict";
import { join } from "node:path";
import { type Doubles, installDoubles } from "./harness.ts";
import {
  type ContainerWorld,
  defaultContainerWorld,
  fakeContainer,
  type FakeImage,
} from "./container_world.ts";
import { present } from "../_helpers/present.ts";
import { BLOB_THRESHOLD, blobStore, storeBlob } from "./blobs.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

const SERVICE_HINT =
  "Ensure container system service has been started with `container system start`.";

/**
 * A world for these tests. They read the messages in their plain form
 * (`swiftErrorDescriptions: false`); the default, Swift's `<code>: "<message>"`,
 * has tests of its own that ask for it.
 */
function world(overrides: Partial<ContainerWorld> = {}): ContainerWorld {
  return { ...defaultContainerWorld(), swiftErrorDescriptions: false, ...overrides };
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

/** Runs the `container` double found on the doubles' PATH, in `doubles.dir`. */
async function container(doubles: Doubles, ...args: string[]): Promise<Result> {
  const output = await new Deno.Command("container", {
    args,
    env: doubles.env,
    cwd: doubles.dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    bytes: output.stdout,
  };
}

async function run(command: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.equal(output.code, 0, `${command} ${args.join(" ")}: ${decoder.decode(output.stderr)}`);
  return decoder.decode(output.stdout);
}

/** The regular files a tar holds, without `./`, sorted. */
async function tarFiles(archive: string): Promise<string[]> {
  const names = (await run("tar", "-tf", archive)).split("\n");
  return names.filter((n) => n && !n.endsWith("/")).map((n) => n.replace(/^\.\//, "")).sort();
}

async function tarFile(archive: string, name: string): Promise<string> {
  return await run("tar", "-xOf", archive, `./${name}`);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

interface LayoutSpec {
  layers: { files: Record<string, string>; gzip?: boolean }[];
  config?: FakeImage["config"];
  /** The manifest descriptor's annotations (default: both name annotations). */
  annotations?: Record<string, string>;
  /** Edits the layout directory just before it is archived. */
  edit?: (layout: string, blobs: { layers: string[]; config: string }) => Promise<void>;
}

/**
 * Writes an OCI image-layout tar independently of the double (so `image
 * load` is not only tested against its own `image save`), in a fresh
 * directory under `doubles.dir`.
 */
async function ociArchive(doubles: Doubles, name: string, spec: LayoutSpec): Promise<string> {
  const work = await Deno.makeTempDir({ dir: doubles.dir, prefix: "layout-" });
  const layout = join(work, "layout");
  const blobDir = join(layout, "blobs", "sha256");
  await Deno.mkdir(blobDir, { recursive: true });
  const blob = async (content: Uint8Array, mediaType: string) => {
    const hex = await sha256(content);
    await Deno.writeFile(join(blobDir, hex), content);
    return { mediaType, digest: `sha256:${hex}`, size: content.length };
  };
  const layers = [];
  for (const [n, layer] of spec.layers.entries()) {
    const root = join(work, `rootfs-${n}`);
    await Deno.mkdir(root);
    for (const [path, content] of Object.entries(layer.files)) {
      await Deno.mkdir(join(root, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, path), content);
    }
    await run("tar", "-C", root, "-cf", join(work, `layer-${n}.tar`), ".");
    const bytes = await Deno.readFile(join(work, `layer-${n}.tar`));
    layers.push(
      layer.gzip
        ? await blob(await gzip(bytes), "application/vnd.oci.image.layer.v1.tar+gzip")
        : await blob(bytes, "application/vnd.oci.image.layer.v1.tar"),
    );
  }
  const config = await blob(
    encoder.encode(JSON.stringify({
      architecture: "arm64",
      os: "linux",
      config: spec.config ?? {},
      rootfs: { type: "layers", diff_ids: [] },
    })),
    "application/vnd.oci.image.config.v1+json",
  );
  const manifest = await blob(
    encoder.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config,
      layers,
    })),
    "application/vnd.oci.image.manifest.v1+json",
  );
  const annotations = spec.annotations ??
    { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name };
  await Deno.writeTextFile(
    join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations }] }),
  );
  await Deno.writeTextFile(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await spec.edit?.(layout, {
    layers: layers.map((l) => join(blobDir, l.digest.slice(7))),
    config: join(blobDir, config.digest.slice(7)),
  });
  const archive = join(work, "image.tar");
  await run("tar", "-C", layout, "-cf", archive, ".");
  return archive;
}

async function tmpEntries(doubles: Doubles): Promise<string[]> {
  return await Array.fromAsync(Deno.readDir(doubles.tmp), (entry) => entry.name);
}

// --- export ------------------------------------------------------------------

for (const version of ["1.0.0", "1.2.0"]) {
  Deno.test(`export on ${version} refuses a running container: "container is not stopped"`, async () => {
    await using doubles = await installDoubles({
      container: world({ version, containers: [fakeContainer("dev")] }),
    });
    const result = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "Error: container is not stopped\n");
    assert.equal(result.stdout, "");
    assert.equal(await exists(join(doubles.dir, "out.tar")), false);
    assert.equal((await doubles.container.read()).containers[0]?.state, "running");
  });
}

Deno.test("export on 1.2.0 writes the tar of a stopped container", async () => {
  await using doubles = await installDoubles({
    container: world({
      version: "1.2.0",
      containers: [fakeContainer("dev", { state: "stopped" })],
    }),
  });
  const result = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await tarFiles(join(doubles.dir, "out.tar")), [
    "etc/hostname",
    "work/notes.txt",
  ]);
});

Deno.test("export on 1.2.1 exports a running container live: real tar, still running", async () => {
  await using doubles = await installDoubles({
    container: world({ version: "1.2.1", containers: [fakeContainer("dev")] }),
  });
  const result = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "");
  const archive = join(doubles.dir, "out.tar");
  assert.deepEqual(await tarFiles(archive), ["etc/hostname", "work/notes.txt"]);
  assert.equal(await tarFile(archive, "work/notes.txt"), "agent work\n");
  assert.equal((await doubles.container.read()).containers[0]?.state, "running");
  assert.deepEqual(await tmpEntries(doubles), [], "temp files left behind");
});

Deno.test("export without -o writes the tar to stdout", async () => {
  await using doubles = await installDoubles({
    container: world({ containers: [fakeContainer("dev", { state: "stopped" })] }),
  });
  const result = await container(doubles, "export", "bot-bottle-dev");
  assert.equal(result.code, 0, result.stderr);
  const archive = join(doubles.dir, "stdout.tar");
  await Deno.writeFile(archive, result.bytes);
  assert.deepEqual(await tarFiles(archive), ["etc/hostname", "work/notes.txt"]);
  assert.equal(await tarFile(archive, "etc/hostname"), "dev\n");
});

for (const state of ["stopping", "unknown"] as const) {
  Deno.test(`export on 1.2.1 refuses a ${state} container: "container must be running or stopped"`, async () => {
    await using doubles = await installDoubles({
      container: world({ version: "1.2.1", containers: [fakeContainer("dev", { state })] }),
    });
    const result = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "Error: container must be running or stopped\n");
    assert.equal(await exists(join(doubles.dir, "out.tar")), false);
  });
}

Deno.test("export of a missing container fails with not found", async () => {
  await using doubles = await installDoubles({ container: world() });
  const result = await container(doubles, "export", "-o", "out.tar", "bot-bottle-gone");
  assert.equal(result.code, 1);
  assert.equal(result.stderr, "Error: container with ID bot-bottle-gone not found\n");
});

Deno.test("export sleeps exportDelayMs after recording the call; killed, it writes nothing", async () => {
  await using doubles = await installDoubles({
    container: world({ exportDelayMs: 30_000, containers: [fakeContainer("dev")] }),
  });
  const child = new Deno.Command("container", {
    args: ["export", "-o", "out.tar", "bot-bottle-dev"],
    env: doubles.env,
    cwd: doubles.dir,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 20_000;
  while ((await doubles.container.read()).calls.length === 0) {
    assert.ok(Date.now() < deadline, "the call was never recorded");
    await new Promise((done) => setTimeout(done, 50));
  }
  child.kill("SIGTERM");
  const status = await child.status;
  assert.equal(status.success, false);
  assert.equal(await exists(join(doubles.dir, "out.tar")), false);
});

Deno.test("export on 0.10.0 requires --image, rejects -o, and builds an image", async () => {
  await using doubles = await installDoubles({
    container: world({
      version: "0.10.0",
      containers: [fakeContainer("dev", { state: "stopped" })],
    }),
  });
  const missing = await container(doubles, "export", "bot-bottle-dev");
  assert.equal(missing.code, 64);
  assert.equal(
    missing.stderr.split("\n")[0],
    "Error: Missing expected argument '--image <image>'",
  );
  assert.match(missing.stderr, /^Usage: container export --image <image> <id>$/m);

  const output = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
  assert.equal(output.code, 64);
  assert.equal(output.stderr.split("\n")[0], "Error: Unknown option '-o'");
  assert.equal(await exists(join(doubles.dir, "out.tar")), false);

  const built = await container(doubles, "export", "--image", "snap:v1", "bot-bottle-dev");
  assert.equal(built.code, 0, built.stderr);
  const [image] = (await doubles.container.read()).images;
  assert.equal(image?.reference, "snap:v1");
  assert.deepEqual(image?.files, fakeContainer("dev").files);
  assert.deepEqual(image?.config, {}, "a FROM scratch build has no config");
});

Deno.test("export on 0.11.0 and later knows no --image option", async () => {
  await using doubles = await installDoubles({
    container: world({ version: "0.11.0", containers: [fakeContainer("dev")] }),
  });
  const result = await container(doubles, "export", "--image", "x", "bot-bottle-dev");
  assert.equal(result.code, 64);
  assert.equal(result.stderr.split("\n")[0], "Error: Unknown option '--image'");
});

// --- service, failures, arguments, calls ---------------------------------------

Deno.test("with the service down every command but --version fails with the start hint", async () => {
  await using doubles = await installDoubles({
    container: world({ serviceRunning: false, containers: [fakeContainer("dev")] }),
  });
  for (
    const args of [
      ["list", "--all", "--format", "json"],
      ["export", "-o", "out.tar", "bot-bottle-dev"],
      ["image", "load", "-i", "nothing.tar"],
      ["stop", "bot-bottle-dev"],
      ["system", "version"],
    ]
  ) {
    const result = await container(doubles, ...args);
    assert.equal(result.code, 1, args.join(" "));
    const lines = result.stderr.trimEnd().split("\n");
    assert.equal(lines[0], 'Error: interrupted: "XPC connection error: Connection invalid"');
    assert.equal(lines.at(-1), SERVICE_HINT);
    assert.equal(result.stdout, "");
  }
  const version = await container(doubles, "--version");
  assert.equal(version.code, 0);
  assert.equal(version.stdout, "container CLI version 1.2.1 (build: release, commit: 0000000)\n");
  assert.equal((await doubles.container.read()).containers[0]?.state, "running");

  assert.equal((await container(doubles, "system", "start")).code, 0);
  assert.equal((await doubles.container.read()).serviceRunning, true);
  assert.equal((await container(doubles, "list")).code, 0);
});

Deno.test("versionOutput replaces the --version line verbatim", async () => {
  await using doubles = await installDoubles({
    container: world({ versionOutput: "container version ??? (dev build)" }),
  });
  assert.equal(
    (await container(doubles, "--version")).stdout,
    "container version ??? (dev build)\n",
  );
});

Deno.test("failures make the named command fail with its message", async () => {
  await using doubles = await installDoubles({
    container: world({
      containers: [fakeContainer("dev")],
      failures: { "image load": "disk full", export: "vm is wedged" },
    }),
  });
  const exported = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
  assert.deepEqual([exported.code, exported.stderr], [1, "Error: vm is wedged\n"]);
  assert.equal(await exists(join(doubles.dir, "out.tar")), false);
  const loaded = await container(doubles, "image", "load", "-i", "x.tar");
  assert.deepEqual([loaded.code, loaded.stderr], [1, "Error: disk full\n"]);
  assert.equal((await container(doubles, "list")).code, 0, "other commands still work");
});

Deno.test("argument errors exit 64 with Error:, a Usage: line and a help hint", async () => {
  await using doubles = await installDoubles({
    container: world({ containers: [fakeContainer("dev")] }),
  });
  const cases: [string[], string, string][] = [
    [["export", "--bogus", "bot-bottle-dev"], "Unknown option '--bogus'", "container export"],
    [["export"], "Missing expected argument '<id>'", "container export"],
    [["export", "-o"], "Missing value for '--output <output>'", "container export"],
    [["start", "a", "b"], "Unexpected argument 'b'", "container start"],
    [
      ["list", "--format", "yaml"],
      "The value 'yaml' is invalid for '--format <format>'. " +
      "Please provide one of 'json' and 'table'.",
      "container list",
    ],
    [
      ["commit", "bot-bottle-dev", "img"],
      "Plugin 'container-commit' not found.",
      "container <subcommand>",
    ],
    [["image", "import"], "Unknown subcommand 'import'", "container image <subcommand>"],
  ];
  for (const [args, message, usage] of cases) {
    const result = await container(doubles, ...args);
    assert.equal(result.code, 64, args.join(" "));
    const lines = result.stderr.split("\n");
    assert.equal(lines[0], `Error: ${message}`);
    const usageLine = lines.find((line) => line.startsWith("Usage: ")) ?? "";
    assert.ok(usageLine.startsWith(`Usage: ${usage}`), result.stderr);
  }
  assert.equal((await doubles.container.read()).containers[0]?.state, "running");
});

Deno.test("every call is recorded in order, refused ones included", async () => {
  await using doubles = await installDoubles({ container: world() });
  await container(doubles, "--version");
  await container(doubles, "list", "--all", "--format", "json");
  await container(doubles, "export", "--bogus");
  await container(doubles, "stop", "bot-bottle-gone");
  assert.deepEqual((await doubles.container.read()).calls, [
    ["--version"],
    ["list", "--all", "--format", "json"],
    ["export", "--bogus"],
    ["stop", "bot-bottle-gone"],
  ]);
});

Deno.test("swiftErrorDescriptions prints errors as the Swift CLI describes them", async () => {
  await using doubles = await installDoubles({
    container: world({
      version: "1.2.0",
      swiftErrorDescriptions: true,
      containers: [fakeContainer("dev")],
    }),
  });
  const result = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
  assert.equal(result.stderr, 'Error: invalidState: "container is not stopped"\n');
  const missing = await container(doubles, "start", "nope");
  assert.equal(missing.stderr, 'Error: notFound: "container with ID nope not found"\n');
});

// --- list, inspect, stop, start, delete ------------------------------------------

Deno.test("list --format json: { configuration, status: string, networks } before 1.0.0; { id, configuration, status: { state, networks, startedDate } } from 1.0.0", async () => {
  const containers = [fakeContainer("up"), fakeContainer("down", { state: "stopped" })];
  const layouts: [string, unknown, string[]][] = [
    ["0.12.3", "running", ["configuration", "status", "networks"]],
    [
      "1.0.0",
      { networks: [], startedDate: "2026-12-01T00:00:00Z", state: "running" },
      ["configuration", "id", "status"],
    ],
    [
      "1.2.1",
      { networks: [], startedDate: "2026-12-01T00:00:00Z", state: "running" },
      ["configuration", "id", "status"],
    ],
  ];
  for (const [version, status, keys] of layouts) {
    await using doubles = await installDoubles({ container: world({ version, containers }) });
    const all = await container(doubles, "list", "--all", "--format", "json");
    assert.equal(all.code, 0, all.stderr);
    const snapshots = JSON.parse(all.stdout);
    assert.equal(snapshots.length, 2);
    assert.equal(snapshots[0].configuration.id, "bot-bottle-up");
    assert.deepEqual(snapshots[0].status, status);
    assert.deepEqual(Object.keys(snapshots[0]), keys);
    if (keys.includes("id")) assert.equal(snapshots[0].id, "bot-bottle-up");
    if (typeof status === "object") {
      assert.deepEqual(snapshots[1].status, {
        networks: [],
        state: "stopped",
      });
    }
    assert.deepEqual(snapshots[0].configuration.initProcess, containers[0]?.initProcess);
    assert.equal(snapshots[0].configuration.image.reference, containers[0]?.image);
    assert.match(snapshots[0].configuration.image.descriptor.digest, /^sha256:[0-9a-f]{64}$/);

    const running = JSON.parse((await container(doubles, "ls", "--format", "json")).stdout);
    assert.deepEqual(running.map((s: { configuration: { id: string } }) => s.configuration.id), [
      "bot-bottle-up",
    ]);
  }
  await using empty = await installDoubles({ container: world() });
  assert.equal((await container(empty, "list", "-a", "--format", "json")).stdout, "[]\n");
});

Deno.test("image list --format json: [{ reference, descriptor }] before 1.0.0; [{ id, configuration: { creationDate, descriptor, name }, variants }] from 1.0.0", async () => {
  const images: FakeImage[] = [{
    reference: "bot-bottle-committed-dev:latest",
    files: { "a.txt": "a\n" },
    config: { Cmd: ["sh"] },
    platform: { os: "linux", architecture: "arm64" },
  }];
  await using old = await installDoubles({ container: world({ version: "0.12.3", images }) });
  const [before] = JSON.parse((await container(old, "image", "list", "--format", "json")).stdout);
  assert.deepEqual(Object.keys(before), ["reference", "descriptor"]);
  assert.equal(before.reference, images[0]?.reference);
  for (const version of ["1.0.0", "1.2.1"]) {
    await using current = await installDoubles({ container: world({ version, images }) });
    const listed = await container(current, "image", "list", "--format", "json");
    assert.equal(listed.code, 0, listed.stderr);
    const [image] = JSON.parse(listed.stdout);
    assert.deepEqual(Object.keys(image), ["configuration", "id", "variants"]);
    assert.equal("reference" in image, false);
    assert.equal(image.configuration.name, images[0]?.reference);
    assert.deepEqual(Object.keys(image.configuration), ["creationDate", "descriptor", "name"]);
    assert.equal(`sha256:${image.id}`, image.configuration.descriptor.digest);
    assert.deepEqual(image.variants[0].platform, images[0]?.platform);
  }
});

Deno.test("before 0.10.0 there is no export: Plugin 'container-export' not found., exit 64", async () => {
  await using doubles = await installDoubles({
    container: world({
      version: "0.9.0",
      containers: [fakeContainer("dev", { state: "stopped" })],
    }),
  });
  const result = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
  assert.equal(result.code, 64);
  assert.equal(result.stderr.split("\n")[0], "Error: Plugin 'container-export' not found.");
  assert.match(result.stderr, /start them with: container system start/);
  assert.equal(await Deno.stat(join(doubles.dir, "out.tar")).then(() => true, () => false), false);
});

Deno.test("from 1.2.0 run and create refuse a name over 63 characters; before, only the pattern", async () => {
  const long = `bot-bottle-${"a".repeat(53)}`; // 64 characters
  const images: FakeImage[] = [{
    reference: "docker.io/library/debian:bookworm",
    files: {},
    config: { Cmd: ["sh"] },
    platform: { os: "linux", architecture: "arm64" },
  }];
  await using current = await installDoubles({
    container: world({ version: "1.2.1", images, swiftErrorDescriptions: true }),
  });
  for (const verb of ["run", "create"]) {
    const args = verb === "run" ? ["run", "-d"] : ["create"];
    const refused = await container(current, ...args, "--name", long, "debian:bookworm");
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `Error: invalidArgument: "container ID ${long} is not a valid container ID"\n`,
    );
  }
  const fits = await container(
    current,
    "run",
    "-d",
    "--name",
    long.slice(0, 63),
    "debian:bookworm",
  );
  assert.equal(fits.code, 0, fits.stderr);
  assert.equal((await current.container.read()).containers.length, 1);
  await using old = await installDoubles({ container: world({ version: "1.1.0", images }) });
  assert.equal((await container(old, "run", "-d", "--name", long, "debian:bookworm")).code, 0);
});

Deno.test("inspect of a missing container: [] and exit 0 before 1.0.0, an error from 1.0.0", async () => {
  await using old = await installDoubles({ container: world({ version: "0.12.3" }) });
  const quiet = await container(old, "inspect", "bot-bottle-gone");
  assert.deepEqual([quiet.code, quiet.stdout], [0, "[]\n"]);
  await using current = await installDoubles({ container: world({ version: "1.0.0" }) });
  const loud = await container(current, "inspect", "bot-bottle-gone");
  assert.deepEqual([loud.code, loud.stderr], [
    1,
    "Error: container with ID bot-bottle-gone not found\n",
  ]);
});

Deno.test("stop deletes a container started with --rm; others stay, stopped", async () => {
  await using doubles = await installDoubles({
    container: world({
      containers: [fakeContainer("keep"), fakeContainer("gone", { autoRemove: true })],
    }),
  });
  const result = await container(doubles, "stop", "-t", "10", "bot-bottle-keep", "bot-bottle-gone");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "bot-bottle-keep\nbot-bottle-gone\n");
  const after = await doubles.container.read();
  assert.deepEqual(after.containers.map((c) => [c.id, c.state]), [["bot-bottle-keep", "stopped"]]);

  const started = await container(doubles, "start", "bot-bottle-keep");
  assert.deepEqual([started.code, started.stdout], [0, "bot-bottle-keep\n"]);
  assert.equal((await doubles.container.read()).containers[0]?.state, "running");
  const missing = await container(doubles, "start", "bot-bottle-gone");
  assert.deepEqual([missing.code, missing.stderr], [
    1,
    "Error: container with ID bot-bottle-gone not found\n",
  ]);
});

Deno.test("stop of a missing container fails after stopping the others", async () => {
  await using doubles = await installDoubles({
    container: world({ containers: [fakeContainer("a")] }),
  });
  const result = await container(doubles, "stop", "bot-bottle-a", "bot-bottle-b");
  assert.equal(result.code, 1);
  assert.equal(result.stdout, "bot-bottle-a\n");
  assert.equal(result.stderr, "Error: container with ID bot-bottle-b not found\n");
  assert.equal((await doubles.container.read()).containers[0]?.state, "stopped");
});

Deno.test("delete refuses a running container without -f and removes it with -f", async () => {
  await using doubles = await installDoubles({
    container: world({ containers: [fakeContainer("a")] }),
  });
  const refused = await container(doubles, "delete", "bot-bottle-a");
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, "Error: container bot-bottle-a is running and can not be deleted\n");
  assert.equal((await doubles.container.read()).containers.length, 1);
  const forced = await container(doubles, "rm", "-f", "bot-bottle-a");
  assert.deepEqual([forced.code, forced.stdout], [0, "bot-bottle-a\n"]);
  assert.deepEqual((await doubles.container.read()).containers, []);
});

// --- images ------------------------------------------------------------------------

Deno.test("image load reads an OCI layout: gzip layers applied in order, whiteouts, config", async () => {
  await using doubles = await installDoubles({ container: world() });
  const archive = await ociArchive(doubles, "snap:v1", {
    layers: [
      { files: { "a/x": "1", "a/y": "2", "b/z": "3" } },
      { files: { "a/x": "new", "a/.wh.y": "", "b/.wh..wh..opq": "", "b/w": "4" }, gzip: true },
    ],
    config: { Cmd: ["/bin/sh"], Env: ["A=1"], WorkingDir: "/work", User: "dev" },
  });
  const result = await container(doubles, "image", "load", "-i", archive);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "snap:v1\n", "from 1.0.0 the names alone");
  const [image] = (await doubles.container.read()).images;
  assert.deepEqual(image, {
    reference: "snap:v1",
    files: { "a/x": "new", "b/w": "4" },
    config: { Cmd: ["/bin/sh"], Env: ["A=1"], WorkingDir: "/work", User: "dev" },
    platform: { os: "linux", architecture: "arm64" },
  });
  assert.deepEqual(await tmpEntries(doubles), [], "temp files left behind");
});

Deno.test("image load takes the name from org.opencontainers.image.ref.name alone", async () => {
  await using doubles = await installDoubles({ container: world() });
  const archive = await ociArchive(doubles, "x", {
    layers: [{ files: { f: "1" } }],
    annotations: { "org.opencontainers.image.ref.name": "only-ref-name:latest" },
  });
  const result = await container(doubles, "image", "load", "--input", archive);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual((await doubles.container.read()).images.map((i) => i.reference), [
    "only-ref-name:latest",
  ]);
});

Deno.test("image load rejects invalid archives and stores nothing", async () => {
  await using doubles = await installDoubles({ container: world() });
  const layers = [{ files: { f: "1" } }];
  const cases: [string, LayoutSpec, RegExp][] = [
    ["no oci-layout", {
      layers,
      edit: (layout) => Deno.remove(join(layout, "oci-layout")),
    }, /^Error: invalid OCI image layout: missing oci-layout$/],
    ["a wrong digest", {
      layers,
      edit: (_, blobs) => Deno.writeTextFile(present(blobs.layers[0]), "tampered"),
    }, /^Error: digest mismatch for blob sha256:[0-9a-f]{64}/],
    ["a missing blob", {
      layers,
      edit: (_, blobs) => Deno.remove(blobs.config),
    }, /^Error: blob sha256:[0-9a-f]{64} not found in archive$/],
    ["no name", { layers, annotations: {} }, /^Error: image sha256:[0-9a-f]{64} .*has no name/],
    ["a wrong layout version", {
      layers,
      edit: (layout) =>
        Deno.writeTextFile(join(layout, "oci-layout"), '{"imageLayoutVersion":"2"}'),
    }, /^Error: unsupported imageLayoutVersion "2"$/],
  ];
  for (const [what, spec, expected] of cases) {
    const archive = await ociArchive(doubles, "bad:v1", spec);
    const result = await container(doubles, "image", "load", "-i", archive);
    assert.equal(result.code, 1, what);
    assert.match(result.stderr.trimEnd(), expected, what);
  }
  const notTar = join(doubles.dir, "not.tar");
  await Deno.writeTextFile(notTar, "this is not a tar");
  const garbage = await container(doubles, "image", "load", "-i", notTar);
  assert.equal(garbage.code, 1);
  assert.match(garbage.stderr, /^Error: failed to extract archive/);
  const absent = await container(doubles, "image", "load", "-i", "absent.tar");
  assert.equal(absent.code, 1);
  assert.equal(absent.stdout, `File does not exist ${join(doubles.dir, "absent.tar")}\n`);

  assert.deepEqual((await doubles.container.read()).images, []);
  assert.deepEqual(await tmpEntries(doubles), [], "temp files left behind");
});

Deno.test("image save then load round-trips files, config and platform", async () => {
  const image: FakeImage = {
    reference: "bot-bottle-committed-dev:latest",
    files: { "etc/hostname": "dev\n", "work/deep/notes.txt": "agent work\n" },
    config: {
      Entrypoint: ["/bin/sh", "-c"],
      Cmd: ["sleep infinity"],
      Env: ["PATH=/usr/bin:/bin"],
      WorkingDir: "/work",
      User: "dev",
      Labels: { "bot-bottle.slug": "dev" },
    },
    platform: { os: "linux", architecture: "arm64" },
  };
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const saved = await container(doubles, "image", "save", "-o", "image.tar", image.reference);
  assert.equal(saved.code, 0, saved.stderr);
  const archive = join(doubles.dir, "image.tar");
  const entries = await tarFiles(archive);
  assert.ok(entries.includes("oci-layout") && entries.includes("index.json"), String(entries));

  const listed = JSON.parse((await container(doubles, "image", "list", "--format", "json")).stdout);
  assert.deepEqual(
    listed.map((i: { configuration: { name: string } }) => i.configuration.name),
    [image.reference],
  );
  const deleted = await container(doubles, "image", "delete", image.reference);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.deepEqual((await doubles.container.read()).images, []);

  const loaded = await container(doubles, "image", "load", "-i", archive);
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.deepEqual((await doubles.container.read()).images, [image]);
  assert.deepEqual(await tmpEntries(doubles), [], "temp files left behind");
});

Deno.test("binary and large files live in the blob store: export, save and load keep their bytes, and the world holds only references", async () => {
  const binary = new Uint8Array(4096).map((_, n) => (n * 151 + 7) % 256); // not UTF-8
  const large = encoder.encode("x".repeat(BLOB_THRESHOLD + 1));
  await using doubles = await installDoubles();
  const store = blobStore(doubles.dir);
  const put = async (name: string, bytes: Uint8Array) => {
    const path = join(doubles.dir, name);
    await Deno.writeFile(path, bytes);
    return await storeBlob(store, path, { move: true });
  };
  const files = {
    "data.bin": await put("data.bin", binary),
    "big.txt": await put("big.txt", large),
    "etc/hostname": "dev\n",
  };
  await doubles.container.write(world({ containers: [fakeContainer("dev", { files })] }));
  const exported = await container(doubles, "export", "-o", "rootfs.tar", "bot-bottle-dev");
  assert.equal(exported.code, 0, exported.stderr);
  const rootfs = join(doubles.dir, "rootfs.tar");
  const bytesOf = async (archive: string, name: string) =>
    (await new Deno.Command("tar", { args: ["-xOf", archive, name], stdout: "piped" }).output())
      .stdout;
  assert.deepEqual(await bytesOf(rootfs, "./data.bin"), binary);
  assert.deepEqual(await bytesOf(rootfs, "./big.txt"), large);
  const image = {
    reference: "blobs:latest",
    files,
    config: {},
    platform: { os: "linux", architecture: "arm64" },
  };
  await doubles.container.update((each) => each.images = [image]);
  const listedBefore = (await container(doubles, "image", "list", "--format", "json")).stdout;
  assert.equal(
    (await container(doubles, "image", "save", "-o", "image.tar", "blobs:latest")).code,
    0,
  );
  await doubles.container.update((each) => each.images = []);
  const loaded = await container(doubles, "image", "load", "-i", "image.tar");
  assert.equal(loaded.code, 0, loaded.stderr);
  const stored = (await doubles.container.read()).images[0];
  // Read back from the layer: the small text inline, the rest as references to the same blobs.
  assert.deepEqual(stored?.files, files);
  assert.ok(JSON.stringify(await doubles.container.read()).length < 4096);
  // The same content lists the same digest (the layer's digest is remembered, not re-tarred).
  assert.equal(
    (await container(doubles, "image", "list", "--format", "json")).stdout,
    listedBefore,
  );
  assert.deepEqual(await tmpEntries(doubles), [], "temp files left behind");
});

Deno.test("image list's descriptor is the index image save writes, and the same after save → delete → load, in both list shapes", async () => {
  const image: FakeImage = {
    reference: "bot-bottle-committed-dev:20261124T141500Z",
    files: { "work/notes.txt": "agent work\n", "etc/hostname": "dev\n" },
    config: { Cmd: ["sh"], Labels: { "bot-bottle.slug": "dev" } },
    platform: { os: "linux", architecture: "arm64" },
  };
  const other: FakeImage = { ...image, reference: "other:v1", files: { "a.txt": "a\n" } };
  for (const version of ["0.12.3", "1.2.1"]) {
    await using doubles = await installDoubles({
      container: world({ version, images: [image, other] }),
    });
    const digests = async () => {
      const listed = JSON.parse(
        (await container(doubles, "image", "list", "--format", "json")).stdout,
      );
      return Object.fromEntries(
        listed.map((each: Record<string, Record<string, unknown>>) =>
          "reference" in each ? [each.reference, present(each.descriptor).digest] : [
            each.configuration?.name,
            (present(each.configuration).descriptor as { digest: string }).digest,
          ]
        ),
      );
    };
    const listed = await digests();
    assert.match(listed[image.reference], /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(listed[image.reference], listed[other.reference], version);

    const archive = join(doubles.dir, "image.tar");
    const saved = await container(doubles, "image", "save", "-o", archive, image.reference);
    assert.equal(saved.code, 0, saved.stderr);
    const [entry] = JSON.parse(await tarFile(archive, "index.json")).manifests;
    assert.equal(entry.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.equal(entry.digest, listed[image.reference], version);
    for (
      const key of [
        "com.apple.containerization.image.name",
        "io.containerd.image.name",
        "org.opencontainers.image.ref.name",
      ]
    ) assert.equal(entry.annotations[key], image.reference, key);
    // The index blob is there, and is what its digest says.
    const blob = join("blobs", "sha256", entry.digest.slice(7));
    await run("tar", "-C", doubles.dir, "-xf", archive, `./${blob}`);
    assert.equal(
      `sha256:${await sha256(await Deno.readFile(join(doubles.dir, blob)))}`,
      entry.digest,
    );

    assert.equal((await container(doubles, "image", "delete", image.reference)).code, 0);
    assert.equal((await container(doubles, "image", "load", "-i", archive)).code, 0);
    assert.deepEqual(await digests(), listed, version);
  }
});

Deno.test("image load prints the names (after Loaded images: before 1.0.0); image save to stdout prints them on stderr from 1.1.0", async () => {
  const image: FakeImage = {
    reference: "snap:v1",
    files: { "a.txt": "a\n" },
    config: {},
    platform: { os: "linux", architecture: "arm64" },
  };
  const cases: [string, string, string, string][] = [
    ["0.12.3", "Loaded images:\nsnap:v1\n", "snap:v1\n", ""],
    ["1.0.0", "snap:v1\n", "snap:v1\n", ""],
    ["1.1.0", "snap:v1\n", "", "snap:v1\n"],
  ];
  for (const [version, loaded, savedOut, savedErr] of cases) {
    await using doubles = await installDoubles({ container: world({ version, images: [image] }) });
    const saved = await container(doubles, "image", "save", "snap:v1");
    assert.equal(saved.code, 0, saved.stderr);
    assert.equal(saved.stderr, savedErr, version);
    const tail = decoder.decode(saved.bytes.slice(saved.bytes.length - savedOut.length));
    assert.equal(savedOut === "" ? "" : tail, savedOut, version);
    const archive = join(doubles.dir, "saved.tar");
    assert.equal(
      (await container(doubles, "image", "save", "-o", archive, "snap:v1")).stdout,
      "snap:v1\n",
    );
    const result = await container(doubles, "image", "load", "-i", archive);
    assert.equal(result.stdout, loaded, version);
  }
});

Deno.test("image load replaces an image stored under the same reference", async () => {
  const old: FakeImage = {
    reference: "snap:v1",
    files: { old: "1" },
    config: {},
    platform: { os: "linux", architecture: "arm64" },
  };
  await using doubles = await installDoubles({ container: world({ images: [old] }) });
  const archive = await ociArchive(doubles, "snap:v1", { layers: [{ files: { new: "2" } }] });
  assert.equal((await container(doubles, "image", "load", "-i", archive)).code, 0);
  const images = (await doubles.container.read()).images;
  assert.deepEqual(images.map((i) => i.files), [{ new: "2" }]);
});

Deno.test("image delete and image save of a missing image fail", async () => {
  await using doubles = await installDoubles({ container: world() });
  const deleted = await container(doubles, "image", "rm", "nope:v1");
  assert.equal(deleted.code, 1);
  assert.match(deleted.stderr, /^Error: failed to delete one or more images: \["nope:v1 /);
  const saved = await container(doubles, "image", "save", "-o", "out.tar", "nope:v1");
  assert.equal(saved.code, 1);
  assert.equal(saved.stderr, "Error: failed to save image(s)\n");
  assert.equal(await exists(join(doubles.dir, "out.tar")), false);
});

// --- run, create ---------------------------------------------------------------------

/** An image with a full config, as `container run` reads it. */
function runImage(overrides: Partial<FakeImage> = {}): FakeImage {
  return {
    reference: "bot-bottle-committed-dev:latest",
    files: { "etc/hostname": "dev\n", "work/notes.txt": "agent work\n" },
    config: {
      Entrypoint: ["/bin/sh", "-c"],
      Cmd: ["sleep infinity"],
      Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "AGENT=claude"],
      WorkingDir: "/work",
      User: "dev",
    },
    platform: { os: "linux", architecture: "arm64" },
    ...overrides,
  };
}

/** What the tests read of a container snapshot (`list`/`inspect --format json`). */
interface Snapshot {
  configuration: {
    initProcess: unknown;
    mounts: unknown[];
    labels: Record<string, string>;
    networks: unknown[];
  };
  status: unknown;
}

/** The snapshots `list --all --format json` prints. */
async function listed(doubles: Doubles): Promise<Snapshot[]> {
  const result = await container(doubles, "list", "--all", "--format", "json");
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

Deno.test("run -d creates a running container with the image's files and config", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const result = await container(doubles, "run", "-d", "--name", "bot-bottle-dev", image.reference);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "bot-bottle-dev\n");
  assert.equal(result.stderr, "");
  const [created] = (await doubles.container.read()).containers;
  assert.deepEqual(created, {
    id: "bot-bottle-dev",
    state: "running",
    autoRemove: false,
    image: image.reference,
    initProcess: {
      executable: "/bin/sh",
      arguments: ["-c", "sleep infinity"],
      environment: ["PATH=/usr/local/bin:/usr/bin:/bin", "AGENT=claude"],
      workingDirectory: "/work",
      terminal: false,
      user: { raw: { userString: "dev" } },
    },
    platform: { os: "linux", architecture: "arm64" },
    files: image.files,
    mounts: [],
    labels: {},
    networks: ["default"],
    resources: { cpus: 4, memoryInBytes: 1073741824 },
  });
  const [snapshot] = await listed(doubles);
  assert.deepEqual(snapshot?.status, {
    networks: [],
    startedDate: "2026-12-01T00:00:00Z",
    state: "running",
  });
  assert.deepEqual(snapshot?.configuration.initProcess, created.initProcess);
  assert.deepEqual(snapshot?.configuration.networks, [
    { network: "default", options: { hostname: "bot-bottle-dev" } },
  ]);
  // What run made, export gives back.
  const exported = await container(doubles, "export", "-o", "out.tar", "bot-bottle-dev");
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(await tarFiles(join(doubles.dir, "out.tar")), [
    "etc/hostname",
    "work/notes.txt",
  ]);
});

Deno.test("run without a config in the image: cwd /, root, and the given command", async () => {
  const image = runImage({ config: {} });
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const refused = await container(doubles, "run", "-d", "--name", "a1", image.reference);
  assert.deepEqual([refused.code, refused.stderr], [
    1,
    "Error: command/entrypoint not specified for container process\n",
  ]);
  const result = await container(doubles, "run", "-d", "--name", "a1", image.reference, "/bin/sh");
  assert.equal(result.code, 0, result.stderr);
  const { initProcess } = present((await doubles.container.read()).containers[0]);
  assert.deepEqual(initProcess, {
    executable: "/bin/sh",
    arguments: [],
    environment: [],
    workingDirectory: "/",
    terminal: false,
    user: { id: { uid: 0, gid: 0 } },
  });
});

Deno.test("run flags override the image: env appended and overridden, workdir, user, entrypoint, args", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const envFile = join(doubles.dir, "agent.env");
  await Deno.writeTextFile(envFile, "# comment\n\nFROM_FILE=1\nAGENT=from-file\n");
  const result = await container(
    doubles,
    "run",
    "--detach",
    "--name",
    "bot-bottle-dev",
    "-e",
    "AGENT=codex",
    "--env",
    "TOKEN=abc=def",
    "--env-file",
    envFile,
    "-e",
    "EMPTY=",
    "-w",
    "/srv",
    "--user",
    "1000:1000",
    "--entrypoint",
    "/usr/bin/env",
    "-t",
    "-i",
    "--rm",
    image.reference,
    "bash",
    "-l",
    "--name",
    "not-an-option",
  );
  assert.equal(result.code, 0, result.stderr);
  const [created] = (await doubles.container.read()).containers;
  assert.equal(created?.autoRemove, true);
  assert.deepEqual(created?.initProcess, {
    executable: "/usr/bin/env",
    arguments: ["bash", "-l", "--name", "not-an-option"],
    environment: [
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "AGENT=codex",
      "FROM_FILE=1",
      "TOKEN=abc=def",
      "EMPTY=",
    ],
    workingDirectory: "/srv",
    terminal: true,
    user: { raw: { userString: "1000:1000" } },
  });

  // --entrypoint without arguments drops the image's Cmd; args alone replace Cmd.
  assert.equal(
    (await container(
      doubles,
      "run",
      "-d",
      "--name",
      "ep",
      "--entrypoint",
      "/bin/true",
      image.reference,
    ))
      .code,
    0,
  );
  assert.equal(
    (await container(
      doubles,
      "run",
      "-d",
      "--name",
      "args",
      "--cwd",
      "/tmp",
      image.reference,
      "ls",
    ))
      .code,
    0,
  );
  assert.equal(
    (await container(
      doubles,
      "run",
      "-d",
      "--name",
      "ids",
      "--uid",
      "501",
      "--gid",
      "20",
      image.reference,
    ))
      .code,
    0,
  );
  const byId = new Map((await doubles.container.read()).containers.map((c) => [c.id, c]));
  assert.deepEqual(
    [byId.get("ep")!.initProcess.executable, byId.get("ep")!.initProcess.arguments],
    ["/bin/true", []],
  );
  assert.deepEqual(
    [byId.get("args")!.initProcess.executable, byId.get("args")!.initProcess.arguments],
    ["/bin/sh", ["-c", "ls"]],
  );
  assert.equal(byId.get("args")!.initProcess.workingDirectory, "/tmp");
  assert.deepEqual(byId.get("ids")!.initProcess.user, { id: { uid: 501, gid: 20 } });
});

Deno.test("run --opt=value forms are accepted like --opt value", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const host = join(doubles.dir, "project");
  await Deno.mkdir(host);
  const result = await container(
    doubles,
    "run",
    "--detach",
    "--name=bot-bottle-dev",
    "--label=bot-bottle.slug=dev",
    "--env=AGENT=codex",
    `--volume=${host}:/work/project`,
    "--workdir=/work/project",
    "--user=dev",
    "--network=default",
    "--memory=2G",
    "--cpus=2",
    image.reference,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "bot-bottle-dev\n");
  const [created] = (await doubles.container.read()).containers;
  assert.deepEqual(created?.labels, { "bot-bottle.slug": "dev" });
  assert.deepEqual(created?.initProcess.environment, [
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "AGENT=codex",
  ]);
  assert.equal(created?.initProcess.workingDirectory, "/work/project");
  assert.deepEqual(created?.mounts?.map((m) => [m.source, m.destination]), [
    [host, "/work/project"],
  ]);
  assert.deepEqual(created?.resources, { cpus: 2, memoryInBytes: 2 * 1024 ** 3 });
});

Deno.test("run records mounts, labels and networks, and list/inspect JSON show them", async () => {
  const image = runImage();
  await using doubles = await installDoubles({
    container: world({ images: [image], volumes: ["cache"], networks: ["bots"] }),
  });
  const project = join(doubles.dir, "project");
  const secrets = join(doubles.dir, "secrets");
  await Deno.mkdir(project);
  await Deno.mkdir(secrets);
  const result = await container(
    doubles,
    "run",
    "-d",
    "--name",
    "bot-bottle-dev",
    "-v",
    `${project}:/work/project`,
    "-v",
    `${secrets}:/run/secrets:ro`,
    "-v",
    "cache:/var/cache",
    "--mount",
    `type=bind,source=${project},target=/mnt/project,readonly`,
    "--tmpfs",
    "/scratch",
    "-l",
    "bot-bottle.slug=dev",
    "--label",
    "team",
    "--network",
    "bots",
    image.reference,
  );
  assert.equal(result.code, 0, result.stderr);
  const mounts = [
    { type: { tmpfs: {} }, source: "tmpfs", destination: "/scratch", options: [] },
    { type: { virtiofs: {} }, source: project, destination: "/work/project", options: [] },
    { type: { virtiofs: {} }, source: secrets, destination: "/run/secrets", options: ["ro"] },
    {
      type: { volume: { name: "cache", format: "ext4", cache: { auto: {} }, sync: { full: {} } } },
      source: "/container-double/volumes/cache/volume.img",
      destination: "/var/cache",
      options: [],
    },
    { type: { virtiofs: {} }, source: project, destination: "/mnt/project", options: ["ro"] },
  ];
  const labels = { "bot-bottle.slug": "dev", team: "" };
  const [snapshot] = await listed(doubles);
  assert.deepEqual(snapshot?.configuration.mounts, mounts);
  assert.deepEqual(snapshot?.configuration.labels, labels);
  assert.deepEqual(snapshot?.configuration.networks, [
    { network: "bots", options: { hostname: "bot-bottle-dev" } },
  ]);
  const inspected = JSON.parse((await container(doubles, "inspect", "bot-bottle-dev")).stdout);
  assert.deepEqual(inspected[0].configuration.mounts, mounts);
  assert.deepEqual(inspected[0].configuration.labels, labels);

  // Containers from fakeContainer() have none.
  await using plain = await installDoubles({
    container: world({ containers: [fakeContainer("old")] }),
  });
  const [old] = await listed(plain);
  assert.deepEqual(
    [old?.configuration.mounts, old?.configuration.labels, old?.configuration.networks],
    [[], {}, []],
  );
});

Deno.test("run refuses a name already taken, and an invalid name", async () => {
  const image = runImage();
  await using doubles = await installDoubles({
    container: world({ images: [image], containers: [fakeContainer("dev", { state: "stopped" })] }),
  });
  const taken = await container(doubles, "run", "-d", "--name", "bot-bottle-dev", image.reference);
  assert.deepEqual([taken.code, taken.stdout, taken.stderr], [
    1,
    "",
    "Error: container with id bot-bottle-dev already exists\n",
  ]);
  const invalid = await container(doubles, "run", "-d", "--name", "-bad", image.reference);
  assert.equal(invalid.code, 64, "a value starting with - is a missing value");
  const bad = await container(doubles, "run", "-d", "--name", "a/b", image.reference);
  assert.deepEqual([bad.code, bad.stderr], [
    1,
    "Error: container ID a/b is not a valid container ID\n",
  ]);
  const after = await doubles.container.read();
  assert.deepEqual(after.containers.map((c) => [c.id, c.state]), [["bot-bottle-dev", "stopped"]]);

  await using swift = await installDoubles({
    container: world({
      images: [image],
      containers: [fakeContainer("dev")],
      swiftErrorDescriptions: true,
    }),
  });
  const described = await container(
    swift,
    "run",
    "-d",
    "--name",
    "bot-bottle-dev",
    image.reference,
  );
  assert.equal(
    described.stderr,
    'Error: exists: "container with id bot-bottle-dev already exists"\n',
  );
});

Deno.test("run without --name generates a UUID id", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const result = await container(doubles, "run", "-d", image.reference);
  assert.equal(result.code, 0, result.stderr);
  const id = result.stdout.trim();
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.deepEqual((await doubles.container.read()).containers.map((c) => c.id), [id]);
});

Deno.test("run of an image not in the store fails as a pull without a registry", async () => {
  await using doubles = await installDoubles({
    container: world({ images: [runImage({ reference: "docker.io/library/debian:bookworm" })] }),
  });
  const missing = await container(doubles, "run", "-d", "--name", "x1", "nope:v1");
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr,
    "Error: failed to pull image docker.io/library/nope:v1: " +
      "the container test double cannot reach a registry (put the image in world.images)\n",
  );
  assert.deepEqual((await doubles.container.read()).containers, []);
  // A bare name matches the stored normalized reference.
  const bare = await container(doubles, "run", "-d", "--name", "x2", "debian:bookworm");
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(
    (await doubles.container.read()).containers[0]?.image,
    "docker.io/library/debian:bookworm",
  );
  // Another architecture than the image's is refused.
  const amd = await container(
    doubles,
    "run",
    "-d",
    "--name",
    "x3",
    "--arch",
    "amd64",
    "debian:bookworm",
  );
  assert.deepEqual([amd.code, amd.stderr], [1, "Error: platform linux/amd64\n"]);
});

Deno.test("run refuses a bind source that does not exist, an unknown volume or network", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const gone = join(doubles.dir, "gone");
  const cases: [string[], string][] = [
    [["-v", `${gone}:/work`], `path '${gone}' does not exist`],
    [["--mount", `type=bind,source=${gone},target=/work`], `path '${gone}' does not exist`],
    [["-v", "cache:/var/cache"], "volume 'cache' not found"],
    [["--network", "bots"], "network bots not found"],
    [
      ["--network", "none", "--network", "default"],
      "no other networks may be created along with network none",
    ],
    [["-l", "a=b=c"], "invalid label format a=b=c"],
  ];
  for (const [flags, message] of cases) {
    const result = await container(doubles, "run", "-d", "--name", "x1", ...flags, image.reference);
    assert.deepEqual([result.code, result.stderr], [1, `Error: ${message}\n`], flags.join(" "));
  }
  assert.deepEqual((await doubles.container.read()).containers, []);
});

Deno.test("run without --detach is refused: attaching is not simulated", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const result = await container(
    doubles,
    "run",
    "-it",
    "--name",
    "bot-bottle-dev",
    image.reference,
  );
  assert.equal(result.code, 1);
  assert.equal(result.stdout, "");
  assert.equal(
    result.stderr,
    "Error: container test double: attached run is not simulated (run with -d/--detach)\n",
  );
  assert.deepEqual((await doubles.container.read()).containers, []);
  // Real refusals still come first.
  const missing = await container(doubles, "run", "--name", "x1", "nope:v1");
  assert.match(missing.stderr, /^Error: failed to pull image /);
});

Deno.test("a container run with --rm is deleted when it stops", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  assert.equal(
    (await container(doubles, "run", "-d", "--rm", "--name", "gone", image.reference)).code,
    0,
  );
  assert.equal((await container(doubles, "run", "-d", "--name", "kept", image.reference)).code, 0);
  const stopped = await container(doubles, "stop", "gone", "kept");
  assert.equal(stopped.code, 0, stopped.stderr);
  const after = await doubles.container.read();
  assert.deepEqual(after.containers.map((c) => [c.id, c.state]), [["kept", "stopped"]]);
});

Deno.test("create makes a stopped container that start runs", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  const created = await container(doubles, "create", "--name", "bot-bottle-dev", image.reference);
  assert.deepEqual([created.code, created.stdout], [0, "bot-bottle-dev\n"]);
  assert.equal((await doubles.container.read()).containers[0]?.state, "stopped");
  assert.equal((await container(doubles, "start", "bot-bottle-dev")).code, 0);
  assert.equal((await doubles.container.read()).containers[0]?.state, "running");
});

Deno.test("run with the service down, with an injected failure, with a bad option", async () => {
  const image = runImage();
  await using down = await installDoubles({
    container: world({ images: [image], serviceRunning: false }),
  });
  const refused = await container(down, "run", "-d", "--name", "x1", image.reference);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trimEnd().split("\n").at(-1), SERVICE_HINT);
  assert.deepEqual((await down.container.read()).containers, []);

  await using failing = await installDoubles({
    container: world({ images: [image], failures: { run: "vm failed to boot" } }),
  });
  const failed = await container(failing, "run", "-d", "--name", "x1", image.reference);
  assert.deepEqual([failed.code, failed.stderr], [1, "Error: vm failed to boot\n"]);
  assert.deepEqual((await failing.container.read()).containers, []);

  const bogus = await container(failing, "run", "-d", "--bogus", image.reference);
  assert.equal(bogus.code, 64);
  assert.equal(bogus.stderr.split("\n")[0], "Error: Unknown option '--bogus'");
  assert.match(
    present(bogus.stderr.split("\n")[1]),
    /^Usage: container run .*\[--env <env> \.\.\.\].* <image> \[<arguments> \.\.\.\]$/,
  );
  const noImage = await container(failing, "run", "-d");
  assert.equal(noImage.stderr.split("\n")[0], "Error: Missing expected argument '<image>'");
});

// --- image push, image pull, registry login ------------------------------------------

const PUSH_REF = "127.0.0.1:5000/team/dev:v1";

/** Runs the double with `input` on stdin. */
async function containerWithInput(
  doubles: Doubles,
  input: string,
  ...args: string[]
): Promise<Result> {
  const child = new Deno.Command("container", {
    args,
    env: doubles.env,
    cwd: doubles.dir,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode(input));
  await writer.close();
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    bytes: output.stdout,
  };
}

/** The digest `image list --format json` shows for `reference` (1.x shape). */
async function listedDigest(doubles: Doubles, reference: string): Promise<string | undefined> {
  const result = await container(doubles, "image", "list", "--format", "json");
  assert.equal(result.code, 0, result.stderr);
  const images = JSON.parse(result.stdout) as {
    configuration: { name: string; descriptor: { digest: string } };
  }[];
  return images.find((each) => each.configuration.name === reference)?.configuration.descriptor
    .digest;
}

Deno.test("image tag + image push + image pull round-trip an image through the registry (1.2.1: auto is http on loopback)", async () => {
  const image = runImage();
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  assert.equal((await container(doubles, "image", "tag", image.reference, PUSH_REF)).code, 0);
  const pushed = await container(doubles, "image", "push", PUSH_REF);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(pushed.stdout, `${PUSH_REF}\n`);
  const digest = await listedDigest(doubles, PUSH_REF);
  assert.equal((await container(doubles, "image", "delete", PUSH_REF, image.reference)).code, 0);
  const pulled = await container(doubles, "image", "pull", PUSH_REF);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.stdout, "");
  const [back] = (await doubles.container.read()).images;
  assert.deepEqual(back, { ...image, reference: PUSH_REF });
  assert.equal(await listedDigest(doubles, PUSH_REF), digest, "the same content, the same digest");
  const untagged = await container(doubles, "image", "pull", "127.0.0.1:5000/team/dev");
  assert.equal(untagged.code, 1, "no `latest` was pushed");
});

Deno.test("image push stores content-addressed manifests: the same image under two tags has one digest", async () => {
  const image = runImage({ reference: PUSH_REF });
  const other = runImage({ reference: "127.0.0.1:5000/team/dev:v2" });
  await using doubles = await installDoubles({ container: world({ images: [image, other] }) });
  assert.equal((await container(doubles, "image", "push", PUSH_REF)).code, 0);
  assert.equal((await container(doubles, "image", "push", other.reference)).code, 0);
  const tags = join(doubles.registry.dir, "127.0.0.1:5000", "team/dev", "tags");
  const v1 = await Deno.readTextFile(join(tags, "v1"));
  assert.match(v1, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await Deno.readTextFile(join(tags, "v2")), v1);
  const byDigest = await container(doubles, "image", "pull", `127.0.0.1:5000/team/dev@${v1}`);
  assert.equal(byDigest.code, 0, byDigest.stderr);
});

Deno.test("image push of an image not in the store is not found, and pushes nothing", async () => {
  await using doubles = await installDoubles({ container: world() });
  const result = await container(doubles, "image", "push", PUSH_REF);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, `Error: Image with reference ${PUSH_REF} not found\n`);
  assert.equal(await exists(join(doubles.registry.dir, "127.0.0.1:5000")), false);
});

Deno.test("from 1.3.0 the default scheme is https and auto is gone: a plain-HTTP loopback registry needs --scheme http", async () => {
  const image = runImage({ reference: PUSH_REF });
  await using doubles = await installDoubles({
    container: world({ version: "1.3.0", images: [image] }),
  });
  const https = await container(doubles, "image", "push", PUSH_REF);
  assert.equal(https.code, 1);
  assert.equal(
    https.stderr,
    `Error: failed to push image ${PUSH_REF}: TLS handshake with https://127.0.0.1:5000/v2/ failed\n`,
  );
  const auto = await container(doubles, "image", "push", "--scheme", "auto", PUSH_REF);
  assert.equal(auto.code, 1);
  assert.equal(auto.stderr, "Error: unsupported scheme auto\n");
  const http = await container(doubles, "image", "push", "--scheme", "http", PUSH_REF);
  assert.equal(http.code, 0, http.stderr);
  const pull = await container(doubles, "image", "pull", "--scheme", "http", PUSH_REF);
  assert.equal(pull.code, 0, pull.stderr);
});

Deno.test("before 1.3.0 --scheme auto (the default) is http for loopback and private hosts, https otherwise", async () => {
  const images = ["10.1.2.3:5000/a:v1", "192.168.1.9:5000/a:v1", "172.20.0.1:5000/a:v1"]
    .map((reference) => runImage({ reference }));
  const hosts = Object.fromEntries(
    ["10.1.2.3:5000", "192.168.1.9:5000", "172.20.0.1:5000"].map((host) => [host, {}]),
  );
  await using doubles = await installDoubles({
    container: world({
      version: "1.2.1",
      images: [...images, runImage({ reference: "r.example.com/a:v1" })],
    }),
    registry: { hosts: { ...hosts, "r.example.com": { tls: true } } },
  });
  for (const image of images) {
    const result = await container(doubles, "image", "push", image.reference);
    assert.equal(result.code, 0, `${image.reference}: ${result.stderr}`);
  }
  const public_ = await container(doubles, "image", "push", "r.example.com/a:v1");
  assert.equal(public_.code, 0, public_.stderr);
  const bad = await container(doubles, "image", "push", "--scheme", "ftp", "r.example.com/a:v1");
  assert.equal(bad.stderr, "Error: unsupported scheme ftp\n");
});

Deno.test("image pull refusals: unreachable, unknown tag, tampered manifest, not an image — nothing stored", async () => {
  const image = runImage({ reference: PUSH_REF });
  await using doubles = await installDoubles({ container: world({ images: [image] }) });
  assert.equal((await container(doubles, "image", "push", PUSH_REF)).code, 0);
  assert.equal((await container(doubles, "image", "delete", PUSH_REF)).code, 0);
  const fails = async (reference: string, stderr: string) => {
    const result = await container(doubles, "image", "pull", reference);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, stderr);
    assert.deepEqual((await doubles.container.read()).images, []);
  };
  await fails(
    "127.0.0.1:5001/team/dev:v1",
    "Error: failed to pull image 127.0.0.1:5001/team/dev:v1: could not connect to " +
      "http://127.0.0.1:5001/v2/\n",
  );
  await fails(
    "127.0.0.1:5000/team/dev:gone",
    "Error: failed to pull image 127.0.0.1:5000/team/dev:gone: manifest unknown\n",
  );
  await doubles.registry.update((hosts) => {
    present(hosts.hosts["127.0.0.1:5000"]).reachable = false;
  });
  await fails(
    PUSH_REF,
    `Error: failed to pull image ${PUSH_REF}: could not connect to http://127.0.0.1:5000/v2/\n`,
  );
  await doubles.registry.update((hosts) => {
    delete present(hosts.hosts["127.0.0.1:5000"]).reachable;
  });
  const manifests = join(doubles.registry.dir, "127.0.0.1:5000", "team/dev", "manifests");
  for await (const entry of Deno.readDir(manifests)) {
    const path = join(manifests, entry.name);
    await Deno.writeTextFile(path, (await Deno.readTextFile(path)).replace("}", ',"x":1}'));
  }
  const tampered = await container(doubles, "image", "pull", PUSH_REF);
  assert.equal(tampered.code, 1);
  assert.match(
    tampered.stderr,
    /^Error: failed to pull image .*: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}\n$/,
  );
  // A smolvm artifact pushed to the same registry is not an image.
  // (The smolvm double's pack: a tar whose manifest.json names its format and CPU.)
  const file = join(doubles.dir, "a.smolmachine");
  const pack = join(doubles.dir, "pack");
  await Deno.mkdir(pack);
  await Deno.writeTextFile(join(pack, "manifest.json"), '{"format":1,"arch":"x86_64"}');
  const tar = await new Deno.Command("tar", { args: ["-cf", file, "-C", pack, "manifest.json"] })
    .output();
  assert.equal(tar.code, 0);
  const smol = await new Deno.Command("smolvm", {
    args: ["pack", "push", "127.0.0.1:5000/team/vm:v1", "-f", file],
    env: doubles.env,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(smol.code, 0, decoder.decode(smol.stderr));
  await fails(
    "127.0.0.1:5000/team/vm:v1",
    "Error: failed to pull image 127.0.0.1:5000/team/vm:v1: " +
      "application/vnd.smolmachines.smolmachine.v1 is not an image\n",
  );
});

Deno.test("registry login checks the password and keeps it; push and pull to an auth registry need it", async () => {
  const image = runImage({ reference: PUSH_REF });
  await using doubles = await installDoubles({
    container: world({ images: [image] }),
    registry: { hosts: { "127.0.0.1:5000": { users: { ann: "s3cret" } } } },
  });
  const unauthorized = await container(doubles, "image", "push", PUSH_REF);
  assert.equal(unauthorized.code, 1);
  assert.equal(
    unauthorized.stderr,
    `Error: failed to push image ${PUSH_REF}: unauthorized: authentication required for ` +
      "127.0.0.1:5000\n",
  );
  const noUser = await containerWithInput(
    doubles,
    "s3cret\n",
    "registry",
    "login",
    "--password-stdin",
    "127.0.0.1:5000",
  );
  assert.equal(noUser.stderr, "Error: must provide --username with --password-stdin\n");
  const wrong = await containerWithInput(
    doubles,
    "nope\n",
    "registry",
    "login",
    "-u",
    "ann",
    "--password-stdin",
    "127.0.0.1:5000",
  );
  assert.equal(wrong.code, 1);
  assert.equal((await doubles.container.read()).logins, undefined, "a failed login keeps nothing");
  const login = await containerWithInput(
    doubles,
    "s3cret\n",
    "registry",
    "login",
    "-u",
    "ann",
    "--password-stdin",
    "127.0.0.1:5000",
  );
  assert.equal(login.code, 0, login.stderr);
  assert.equal((await container(doubles, "image", "push", PUSH_REF)).code, 0);
  assert.equal((await container(doubles, "image", "pull", PUSH_REF)).code, 0);
});

Deno.test("image push/pull argument errors are the parser's, exit 64", async () => {
  await using doubles = await installDoubles({ container: world() });
  const missing = await container(doubles, "image", "push");
  assert.equal(missing.code, 64);
  assert.match(missing.stderr, /^Error: Missing expected argument '<reference>'\n/);
  const unknown = await container(doubles, "image", "pull", "--bogus", PUSH_REF);
  assert.equal(unknown.code, 64);
  assert.match(unknown.stderr, /^Error: Unknown option '--bogus'\n/);
});

Deno.test("image push to a TLS registry whose CA is not trusted fails; a trusted one works", async () => {
  const reference = "r.example.com:5443/team/dev:v1";
  const image = runImage({ reference });
  await using doubles = await installDoubles({
    container: world({ images: [image] }),
    registry: { hosts: { "r.example.com:5443": { tls: true, untrusted: true } } },
  });
  const untrusted = await container(doubles, "image", "push", reference);
  assert.equal(untrusted.code, 1);
  assert.equal(
    untrusted.stderr,
    `Error: failed to push image ${reference}: the TLS certificate of ` +
      "https://r.example.com:5443/v2/ is not trusted\n",
  );
  await doubles.registry.write({ hosts: { "r.example.com:5443": { tls: true } } });
  assert.equal((await container(doubles, "image", "push", reference)).code, 0);
});
