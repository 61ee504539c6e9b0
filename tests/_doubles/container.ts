// A test double of Apple's `container` CLI (macOS 26, Apple silicon), run by
// the harness (harness.ts) as the `container` executable. It keeps its world
// in the JSON file named by BOT_BOTTLE_DOUBLE_WORLD (see container_world.ts):
// every call is recorded, the command is performed on the world, and the
// world is written back.
//
// It reproduces the contract in /work/shared/backend-cli-facts.md ("Apple
// `container`", "facts" below), refusals included, and the argument handling
// of swift-argument-parser, which the real CLI uses: argument errors exit 64
// with `Error: …`, a `Usage:` line and a help hint; other errors exit 1 with
// `Error: <code>: "<message>"` on stderr (the `ContainerizationError`
// description; `swiftErrorDescriptions: false` prints the message alone). It
// defaults to 1.2.1; the world's `version` brings older behaviour back.
// Sources: facts; apple/container at the tags 0.9.0 to 1.2.2 ("src" below:
// Sources/ContainerCommands, Sources/ContainerResource,
// Sources/Services/ContainerAPIService/Client).
//
// Behaviour, and where it comes from:
// - `--version`: `container CLI version X.Y.Z (build: release, commit: …)`,
//   or the world's `versionOutput` verbatim (facts).
// - Service down: every command but `--version` and `system start/status`
//   fails with the XPC error and the `container system start` hint (facts).
// - An unknown top-level command is looked up as a plugin and fails with
//   `Plugin 'container-<name>' not found.` (exit 64, src DefaultCommand.swift):
//   `container commit` always, and `container export` before 0.10.0 (facts).
// - `export`: 0.10.x `export --image NAME ID` builds an image and keeps no
//   process config; from 0.11.0 `export [-o FILE] ID` writes a flat tar
//   (stdout without `-o`); before 1.2.1 only a stopped container (`container
//   is not stopped`), from 1.2.1 running ones too, live (`container must be
//   running or stopped` for the others) (facts).
// - `list --all --format json`: before 1.0.0 the `ContainerSnapshot`
//   `{configuration, status: "<state>", networks}`; from 1.0.0 the
//   `ManagedContainer` `{id, configuration, status: {state, networks,
//   startedDate}}` (facts, src ManagedContainer.swift). `inspect` of a
//   missing container prints `[]` and exits 0 before 1.0.0 (facts).
// - `image list --format json`: before 1.0.0 `[{reference, descriptor}]`;
//   from 1.0.0 `[{id, configuration: {creationDate, descriptor, name},
//   variants}]`, no `reference` (facts, src ImageResource.swift).
// - `run`/`create`: every option before the image (facts); the name rule
//   `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`, and from 1.2.0 at most 63 characters with
//   `container ID X is not a valid container ID` (src ManagedContainer.swift,
//   ContainerRun.swift; before 1.2.0 `run` says `invalid entity name X`);
//   image config, env, env files, user, mounts, labels and networks as
//   src Parser.swift reads them; `--rm` containers are deleted when they stop.
// - `image load -i` reads an OCI image-layout tar (names from the
//   `org.opencontainers.image.ref.name`/`io.containerd.image.name`
//   annotations; a docker-save tar has no `oci-layout`) and prints the names
//   (before 1.0.0 after `Loaded images:`); `image save [-o FILE]` prints the
//   names too, from 1.1.0 on stderr when the tar goes to stdout; `image tag`,
//   `image delete` (missing without `-f`: `failed to delete one or more
//   images: […]`) (facts).
// - Image digests (src containerization ImageStore+OCILayout.swift,
//   ImageStore+Import.swift, ImageStore+Export.swift): the store is
//   content-addressed and keeps each image as an index. `image load` keeps an
//   `index.json` entry that is an index as it is (the listed descriptor digest
//   is that entry's digest); for an entry that is a manifest it makes a
//   one-entry index (the manifest with its platform, annotated
//   `com.apple.containerization.index.indirect`) and lists that index's
//   digest. `image save` writes the stored index back byte for byte (all
//   platforms), its `index.json` entry carrying the listed digest and the names
//   in `com.apple.containerization.image.name`, `io.containerd.image.name` and
//   `org.opencontainers.image.ref.name`; `load` takes the name from the first
//   of those three it finds. So an image saved and loaded again lists the same
//   digest. The double keeps an image as its content (files, config,
//   platform) and derives the blobs from it, deterministically: `save` writes
//   the layer (a tar with fixed metadata), config, manifest and that indirect
//   index, and `image list` reports the index's digest — so, as with the real
//   store, what `save` writes is what is listed, and a save→load round trip
//   lists the same digest. (Unlike the real store, a layout that the double did
//   not write lists the digest of the double's own blobs for its content, not
//   the file's.)
// - `stop`, `start`, `delete [-f]` with the CLI's per-id reporting (src).
// - `exec [-i] [-t] ID CMD…` (facts) runs `true`, `false`, `cat PATH…` and
//   `-i … cat` and `-i … tee PATH` on the container's files; one not running
//   is refused.
// - `image push REF` (the image must be in the store; prints REF, src
//   ImagePush.swift) and `image pull REF` (stored as REF, `:latest` added when
//   it has no tag; prints nothing, src ImagePull.swift), to and from the
//   doubles' shared registry (registry.ts), content-addressed: the same image
//   pushed twice has the same digest, and a pull verifies it. `--scheme`:
//   before 1.3.0 the default `auto` is http for localhost and private IPv4
//   (src RequestScheme.swift), from 1.3.0 the default is https and `auto` is
//   gone (facts); an unknown scheme is `unsupported scheme X` (src). So a
//   plain-HTTP registry on 127.0.0.1 needs `--scheme http` from 1.3.0.
//   `registry login [--scheme S] --password-stdin -u NAME SERVER` checks the
//   login against the registry and keeps it (src RegistryLogin.swift:
//   `must provide --username with --password-stdin`); the prompt is not
//   simulated. The registry failures (unreachable, TLS, untrusted CA, unauthorized, unknown
//   tag, digest mismatch, not an image) are in the double's own words: their
//   real texts come from apple/containerization, which was not read.
// - Injected failures (`failures`), and a delay in `export`
//   (`exportDelayMs`) to test interrupts.

import { writeWorldFile } from "./world_file.ts";
import {
  contentBytes,
  printContent,
  readContent,
  recall,
  remember,
  writeContent,
} from "./blobs.ts";
import { createHash } from "node:crypto";
import { pack as tarPack } from "tar-stream";
import { join, normalize, resolve } from "node:path";
import {
  parseReference,
  ping as pingRegistry,
  pull as pullFromRegistry,
  push as pushToRegistry,
  type Reference,
  RegistryError,
} from "./registry.ts";
import type {
  ContainerWorld,
  FakeContainer,
  FakeImage,
  FakeMount,
  FakeUser,
} from "./container_world.ts";

// ---------------------------------------------------------------------------
// Errors and output

/** The `ContainerizationError.Code` values the double raises. */
type ErrorCode =
  | "invalidArgument"
  | "internalError"
  | "notFound"
  | "invalidState"
  | "interrupted"
  | "exists"
  | "unsupported";

/** A runtime failure: `Error: <message>` on stderr, exit status 1. */
class CliError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** An argument error: `Error: <message>`, `Usage: …`, exit status 64. */
class UsageError extends Error {
  constructor(message: string, readonly spec: CommandSpec) {
    super(message);
    this.name = "UsageError";
  }
}

/** `-h`/`--help` was given: print the usage and exit 0. */
class HelpRequested extends Error {
  constructor(readonly spec: CommandSpec) {
    super("help requested");
    this.name = "HelpRequested";
  }
}

/** Ends the command with `status`; what it had to say is already printed. */
class Exit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
    this.name = "Exit";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function writeAll(
  stream: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < data.length) written += await stream.write(data.subarray(written));
}

function print(line: string): Promise<void> {
  return writeAll(Deno.stdout, encoder.encode(`${line}\n`));
}

function printError(line: string): Promise<void> {
  return writeAll(Deno.stderr, encoder.encode(`${line}\n`));
}

/**
 * How an error reads after `Error: `: as the Swift CLI prints a
 * `ContainerizationError`, `<code>: "<message>"` (e.g. `invalidState:
 * "container is not stopped"`); with `swiftErrorDescriptions: false` the
 * plain message alone, so a caller can be tested against both.
 */
function describe(world: ContainerWorld, error: CliError): string {
  return swift(world) ? `${error.code}: "${error.message}"` : error.message;
}

/** Whether errors read as the Swift CLI prints them (the default). */
function swift(world: ContainerWorld): boolean {
  return world.swiftErrorDescriptions ?? true;
}

const SERVICE_HINT =
  "Ensure container system service has been started with `container system start`.";

function serviceDownMessage(world: ContainerWorld): string {
  const xpc = `interrupted: "XPC connection error: Connection invalid"`;
  // The real CLI wraps the XPC error in another ContainerizationError.
  return swift(world)
    ? `Error: interrupted: "${xpc}\n${SERVICE_HINT}"`
    : `Error: ${xpc}\n${SERVICE_HINT}`;
}

function notFound(id: string): CliError {
  return new CliError("notFound", `container with ID ${id} not found`);
}

function imageNotFound(world: ContainerWorld, reference: string): CliError {
  // The real message is `notFound: "Image with reference REF"`: the code says
  // "not found"; the plain form says it in words.
  return new CliError(
    "notFound",
    swift(world)
      ? `Image with reference ${reference}`
      : `Image with reference ${reference} not found`,
  );
}

// ---------------------------------------------------------------------------
// Versions

type Version = [number, number, number];

function parseVersion(text: string): Version {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) throw new Error(`container double: world.version "${text}" is not X.Y.Z`);
  const [, major, minor, patch] = match.map(Number);
  return [major ?? 0, minor ?? 0, patch ?? 0];
}

/** `a < b`. */
function before([a0, a1, a2]: Version, [b0, b1, b2]: Version): boolean {
  return a0 !== b0 ? a0 < b0 : a1 !== b1 ? a1 < b1 : a2 < b2;
}

function versionLine(world: ContainerWorld): string {
  return world.versionOutput ??
    `container CLI version ${world.version} (build: release, commit: 0000000)`;
}

// ---------------------------------------------------------------------------
// Argument parsing, as swift-argument-parser does it

interface OptionSpec {
  long: string;
  /** Other long names of the same option (`--cwd` for `--workdir`, `--remove` for `--rm`). */
  aliases?: string[];
  short?: string;
  /** The value's placeholder (`<output>`); absent for a flag. */
  value?: string;
  /** Allowed values (an enum option). */
  choices?: string[];
  integer?: boolean;
  required?: boolean;
  /** An array option (`-e A=1 -e B=2`): every value is kept, in order, in `Parsed.lists`. */
  repeatable?: boolean;
}

interface PositionalSpec {
  name: string;
  required: boolean;
  variadic: boolean;
  /**
   * `@Argument(parsing: .captureForPassthrough)`: once the positionals before
   * it are given, every remaining argument is its value, options included.
   */
  passthrough?: boolean;
}

interface CommandSpec {
  /** The canonical command words, e.g. `["image", "load"]`. */
  path: string[];
  options: OptionSpec[];
  positionals: PositionalSpec[];
}

interface Parsed {
  /** The last value of each option given, by its long name. */
  values: Map<string, string>;
  /** Every value of each repeatable option given, by its long name. */
  lists: Map<string, string[]>;
  flags: Set<string>;
  positionals: string[];
}

const DEBUG: OptionSpec = { long: "debug" };

function optionLabel(option: OptionSpec): string {
  return option.value ? `--${option.long} ${option.value}` : `--${option.long}`;
}

function positionalLabel(positional: PositionalSpec): string {
  return positional.variadic ? `<${positional.name}> ...` : `<${positional.name}>`;
}

function usageLine(spec: CommandSpec): string {
  const parts = [`container ${spec.path.join(" ")}`];
  for (const option of spec.options) {
    if (option === DEBUG) continue;
    const label = `${optionLabel(option)}${option.repeatable ? " ..." : ""}`;
    parts.push(option.required ? label : `[${label}]`);
  }
  for (const positional of spec.positionals) {
    parts.push(
      positional.required ? positionalLabel(positional) : `[${positionalLabel(positional)}]`,
    );
  }
  return parts.join(" ");
}

/** The values of a repeatable option, in the order given. */
function valuesOf(parsed: Parsed, long: string): string[] {
  return parsed.lists.get(long) ?? [];
}

/** The positional at `index`, which the command's spec requires (parse checked that it is there). */
function operand(parsed: Parsed, index: number): string {
  const value = parsed.positionals[index];
  if (value === undefined) throw new TypeError(`container double: no operand ${index}`);
  return value;
}

function parse(spec: CommandSpec, args: string[]): Parsed {
  const parsed: Parsed = { values: new Map(), lists: new Map(), flags: new Set(), positionals: [] };
  const byLong = new Map(
    spec.options.flatMap((o) => [o.long, ...o.aliases ?? []].map((name) => [name, o] as const)),
  );
  const byShort = new Map(spec.options.filter((o) => o.short).map((o) => [o.short!, o]));
  const passthrough = spec.positionals.findIndex((p) => p.passthrough);
  let onlyPositionals = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === undefined) break;
    if (passthrough !== -1 && parsed.positionals.length >= passthrough) {
      parsed.positionals.push(...args.slice(i));
      break;
    }
    if (onlyPositionals || arg === "-" || !arg.startsWith("-")) {
      parsed.positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      onlyPositionals = true;
      continue;
    }
    if (arg === "-h" || arg === "--help") throw new HelpRequested(spec);
    const takeValue = (option: OptionSpec, inline?: string): void => {
      const value = inline ?? args[i + 1];
      if (value === undefined || (inline === undefined && value.startsWith("-"))) {
        throw new UsageError(`Missing value for '${optionLabel(option)}'`, spec);
      }
      if (inline === undefined) i++;
      if (option.choices && !option.choices.includes(value)) {
        const allowed = option.choices.map((c) => `'${c}'`).join(" and ");
        throw new UsageError(
          `The value '${value}' is invalid for '${optionLabel(option)}'. ` +
            `Please provide one of ${allowed}.`,
          spec,
        );
      }
      if (option.integer && !/^-?\d+$/.test(value)) {
        throw new UsageError(`The value '${value}' is invalid for '${optionLabel(option)}'`, spec);
      }
      parsed.values.set(option.long, value);
      if (option.repeatable) {
        parsed.lists.set(option.long, [...valuesOf(parsed, option.long), value]);
      }
    };
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const name = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
      const option = byLong.get(name);
      if (!option) throw new UsageError(`Unknown option '--${name}'`, spec);
      if (option.value) takeValue(option, equals === -1 ? undefined : arg.slice(equals + 1));
      else if (equals !== -1) throw new UsageError(`Unknown option '${arg}'`, spec);
      else parsed.flags.add(option.long);
      continue;
    }
    const letters = arg.slice(1);
    if (letters.length === 1) {
      const option = byShort.get(letters);
      if (!option) throw new UsageError(`Unknown option '${arg}'`, spec);
      if (option.value) takeValue(option);
      else parsed.flags.add(option.long);
      continue;
    }
    // Grouped short flags, e.g. `-af`.
    const options = [...letters].map((letter) => byShort.get(letter));
    if (options.some((o) => !o || o.value)) throw new UsageError(`Unknown option '${arg}'`, spec);
    for (const option of options) parsed.flags.add(option!.long);
  }
  for (const option of spec.options) {
    if (option.required && !parsed.values.has(option.long)) {
      throw new UsageError(`Missing expected argument '${optionLabel(option)}'`, spec);
    }
  }
  const variadic = spec.positionals.some((p) => p.variadic);
  if (!variadic && parsed.positionals.length > spec.positionals.length) {
    throw new UsageError(
      `Unexpected argument '${parsed.positionals[spec.positionals.length]}'`,
      spec,
    );
  }
  spec.positionals.forEach((positional, index) => {
    if (positional.required && parsed.positionals.length <= index) {
      throw new UsageError(`Missing expected argument '${positionalLabel(positional)}'`, spec);
    }
  });
  return parsed;
}

// ---------------------------------------------------------------------------
// Files, tar and digests

function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A relative path inside a root filesystem, or an error if it would escape it. */
function safeRelative(path: string): string {
  const cleaned = normalize(path.replace(/^\/+/, "")).replace(/^\.\//, "");
  if (cleaned === "." || cleaned === "" || cleaned.startsWith("..")) {
    throw new CliError("invalidArgument", `invalid path in filesystem: ${path}`);
  }
  return cleaned;
}

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, safeRelative(path));
    await Deno.mkdir(join(target, ".."), { recursive: true });
    await writeContent(target, content);
  }
}

/** Regular files under `dir`, relative path → absolute path, in sorted order. */
async function listFiles(dir: string, prefix = ""): Promise<[string, string][]> {
  const found: [string, string][] = [];
  const entries = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) entries.push(entry);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) found.push(...await listFiles(dir, rel));
    else if (entry.isFile) found.push([rel, join(dir, rel)]);
  }
  return found;
}

async function tar(args: string[], what: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("tar", { args, stdout: "null", stderr: "piped" })
    .output();
  if (code !== 0) {
    throw new CliError("internalError", `${what}: ${decoder.decode(stderr).trim()}`);
  }
}

/** Runs `use` with a fresh temporary directory (under TMPDIR), then removes it. */
async function withTempDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "container-double-" });
  try {
    return await use(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `files` as a flat tar at `out` (`tar -C dir -cf out .`). */
async function writeFilesTar(files: Record<string, string>, out: string): Promise<void> {
  await withTempDir(async (dir) => {
    const root = join(dir, "rootfs");
    await Deno.mkdir(root);
    await writeTree(root, files);
    await tar(["-C", root, "-cf", out, "."], "failed to write archive");
  });
}

/** Copies `path` to stdout, or moves it to `output` (resolved against the cwd). */
async function deliver(path: string, output: string | undefined): Promise<void> {
  if (output === undefined) {
    await writeAll(Deno.stdout, await Deno.readFile(path));
    return;
  }
  const target = resolve(output);
  const existing = await Deno.stat(target).catch(() => undefined);
  if (existing?.isDirectory) {
    throw new CliError(
      "invalidArgument",
      `refusing to overwrite directory at ${target}; specify a file path`,
    );
  }
  try {
    await Deno.copyFile(path, target);
  } catch (error) {
    throw new CliError(
      "internalError",
      `failed to write ${target}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// OCI image layout (what `image save` writes and `image load` reads)

const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

const NAME_ANNOTATIONS = ["io.containerd.image.name", "org.opencontainers.image.ref.name"];
/** The name annotation the store reads first and `save` writes too. */
const APPLE_NAME_ANNOTATION = "com.apple.containerization.image.name";

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

/** An annotation the store puts on an index it made for a manifest (containerization AnnotationKeys). */
const INDEX_INDIRECT = "com.apple.containerization.index.indirect";

/** JSON with every object's keys sorted, so equal content gives equal bytes. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, each) =>
      isRecord(each)
        ? Object.fromEntries(Object.keys(each).sort().map((key) => [key, each[key]]))
        : each,
  );
}

/** A blob and its descriptor. */
interface StoredBlob {
  descriptor: Descriptor;
  content: Uint8Array;
}

function blob(content: Uint8Array, mediaType: string): StoredBlob {
  return {
    descriptor: { mediaType, digest: `sha256:${sha256(content)}`, size: content.length },
    content,
  };
}

/** `files` as a tar with fixed metadata, sorted: the same files always give the same bytes. */
async function filesTar(files: Record<string, string>): Promise<Uint8Array> {
  const pack = tarPack();
  const chunks: Uint8Array[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Uint8Array);
  })();
  for (const path of Object.keys(files).sort()) {
    const content = await contentBytes(files[path] ?? "");
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        {
          name: safeRelative(path),
          size: content.length,
          mode: 0o644,
          mtime: new Date(0),
          uid: 0,
          gid: 0,
        },
        content as unknown as Buffer,
        (error?: Error | null) => error ? reject(error) : resolve(),
      )
    );
  }
  pack.finalize();
  await done;
  const bytes = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * The blobs the store keeps for an image, as `image save` writes them: the
 * layer, the config, the manifest and, on top, the index the store made for
 * that manifest when it was loaded (one entry with the platform, annotated
 * `com.apple.containerization.index.indirect`). Derived from the image's
 * content alone, so the same image always gives the same digests.
 */
async function imageBlobs(
  image: FakeImage,
  { describeOnly = false }: { describeOnly?: boolean } = {},
): Promise<{ index: StoredBlob; blobs: StoredBlob[] }> {
  const layer = await layerBlob(image.files, describeOnly);
  const config = blob(
    encoder.encode(canonicalJson({
      architecture: image.platform.architecture,
      os: image.platform.os,
      config: image.config,
      rootfs: { type: "layers", diff_ids: [layer.descriptor.digest] },
    })),
    MEDIA.config,
  );
  const manifest = blob(
    encoder.encode(canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: config.descriptor,
      layers: [layer.descriptor],
    })),
    MEDIA.manifest,
  );
  const index = blob(
    encoder.encode(canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: [{ ...manifest.descriptor, platform: image.platform }],
      annotations: { [INDEX_INDIRECT]: "true" },
    })),
    MEDIA.index,
  );
  return { index, blobs: [layer, config, manifest, index] };
}

/**
 * The layer of `files`: its tar and descriptor, or with `describeOnly` the
 * descriptor alone (the content empty), remembered per content: the real
 * store keeps its blobs and their digests, so listing an image reads no
 * layer, where the double would tar the whole filesystem again.
 */
async function layerBlob(
  files: Record<string, string>,
  describeOnly: boolean,
): Promise<StoredBlob> {
  const key = `layer ${canonicalJson(files)}`;
  if (describeOnly) {
    const descriptor = await recall<Descriptor>(key);
    if (descriptor !== undefined) return { descriptor, content: new Uint8Array() };
  }
  const layer = blob(await filesTar(files), MEDIA.layer);
  await remember(key, layer.descriptor);
  return layer;
}

/** The image's descriptor in the store: its index's. */
async function imageDescriptor(image: FakeImage): Promise<Descriptor> {
  return (await imageBlobs(image, { describeOnly: true })).index.descriptor;
}

/**
 * Writes an OCI image-layout tar holding `images` at `out`: each
 * `index.json` entry is the image's index descriptor (the real `save` takes
 * only index-typed images) with its names in the annotations.
 */
async function writeImageLayout(images: FakeImage[], out: string): Promise<void> {
  await withTempDir(async (dir) => {
    const layout = join(dir, "layout");
    const blobs = join(layout, "blobs", "sha256");
    await Deno.mkdir(blobs, { recursive: true });
    const manifests: Descriptor[] = [];
    for (const image of images) {
      const { index, blobs: all } = await imageBlobs(image);
      for (const each of all) {
        await Deno.writeFile(join(blobs, each.descriptor.digest.slice(7)), each.content);
      }
      manifests.push({
        ...index.descriptor,
        annotations: Object.fromEntries(
          [APPLE_NAME_ANNOTATION, ...NAME_ANNOTATIONS].map((key) => [key, image.reference]),
        ),
      });
    }
    await Deno.writeTextFile(
      join(layout, "oci-layout"),
      JSON.stringify({ imageLayoutVersion: "1.0.0" }),
    );
    await Deno.writeTextFile(
      join(layout, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests }),
    );
    await tar(["-C", layout, "-cf", out, "."], "failed to write archive");
  });
}

function invalidImage(message: string): CliError {
  return new CliError("invalidArgument", message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw invalidImage(`invalid OCI image layout: missing ${what}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value)) return value;
  } catch {
    // reported below
  }
  throw invalidImage(`invalid OCI image layout: ${what} is not a JSON object`);
}

function asDescriptor(value: unknown, where: string): Descriptor {
  if (
    !isRecord(value) || typeof value.mediaType !== "string" ||
    typeof value.digest !== "string" || typeof value.size !== "number"
  ) {
    throw invalidImage(`invalid OCI image layout: malformed descriptor in ${where}`);
  }
  const annotations = isRecord(value.annotations)
    ? Object.fromEntries(
      Object.entries(value.annotations).filter((e): e is [string, string] =>
        typeof e[1] === "string"
      ),
    )
    : undefined;
  return {
    mediaType: value.mediaType,
    digest: value.digest,
    size: value.size,
    ...annotations === undefined ? {} : { annotations },
  };
}

/** A blob's path after checking that it exists and matches its digest and size. */
async function verifiedBlob(layout: string, descriptor: Descriptor): Promise<string> {
  const [, hex] = /^sha256:([0-9a-f]{64})$/.exec(descriptor.digest) ?? [];
  if (hex === undefined) throw invalidImage(`unsupported digest ${descriptor.digest}`);
  const path = join(layout, "blobs", "sha256", hex);
  // Streamed: a layer may be large (the bench's are 200 MiB).
  const hash = createHash("sha256");
  let size = 0;
  try {
    using file = await Deno.open(path);
    for await (const chunk of file.readable) {
      hash.update(chunk);
      size += chunk.length;
    }
  } catch {
    throw invalidImage(`blob ${descriptor.digest} not found in archive`);
  }
  const actual = hash.digest("hex");
  if (actual !== hex) {
    throw invalidImage(
      `digest mismatch for blob ${descriptor.digest}: content has sha256:${actual}`,
    );
  }
  if (size !== descriptor.size) {
    throw invalidImage(
      `size mismatch for blob ${descriptor.digest}: expected ${descriptor.size}, got ${size}`,
    );
  }
  return path;
}

/** Applies one layer tar (already verified) onto `files`, whiteouts included. */
async function applyLayer(
  dir: string,
  blob: string,
  descriptor: Descriptor,
  files: Record<string, string>,
): Promise<void> {
  const magic = new Uint8Array(2);
  {
    using file = await Deno.open(blob);
    await file.read(magic);
  }
  const gzipped = magic[0] === 0x1f && magic[1] === 0x8b;
  let layerTar = blob;
  if (descriptor.mediaType === MEDIA.layerGzip) {
    if (!gzipped) throw invalidImage(`layer ${descriptor.digest} is not gzip-compressed`);
    layerTar = join(dir, "layer.tar");
    try {
      const bytes = await Deno.readFile(blob);
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      await Deno.writeFile(layerTar, new Uint8Array(await new Response(stream).arrayBuffer()));
    } catch {
      throw invalidImage(`layer ${descriptor.digest} is not valid gzip`);
    }
  } else if (descriptor.mediaType === MEDIA.layer) {
    if (gzipped) throw invalidImage(`layer ${descriptor.digest} is compressed but ${MEDIA.layer}`);
  } else {
    throw invalidImage(`unsupported layer media type ${descriptor.mediaType}`);
  }
  const root = join(dir, "layer");
  await Deno.mkdir(root);
  await tar(["-C", root, "-xf", layerTar], `invalid layer ${descriptor.digest}`);
  const removeUnder = (prefix: string) => {
    for (const path of Object.keys(files)) {
      if (path === prefix || path.startsWith(`${prefix}/`)) delete files[path];
    }
  };
  const entries = await listFiles(root);
  // Whiteouts first: they hide what lower layers had, not this layer's files.
  for (const [rel] of entries) {
    const slash = rel.lastIndexOf("/");
    const parent = slash === -1 ? "" : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    if (name === ".wh..wh..opq") {
      for (const path of Object.keys(files)) {
        if (parent === "" || path.startsWith(`${parent}/`)) delete files[path];
      }
    } else if (name.startsWith(".wh.")) {
      removeUnder(parent ? `${parent}/${name.slice(4)}` : name.slice(4));
    }
  }
  for (const [rel, path] of entries) {
    if (rel.split("/").pop()!.startsWith(".wh.")) continue;
    removeUnder(rel);
    files[rel] = await readContent(path);
  }
  await Deno.remove(root, { recursive: true });
}

/** Reads one image manifest (descriptor already verified) into a FakeImage. */
async function readImage(
  layout: string,
  dir: string,
  reference: string,
  manifestPath: string,
): Promise<FakeImage> {
  const manifest = await readJson(manifestPath, `manifest of ${reference}`);
  if (manifest.schemaVersion !== 2) {
    throw invalidImage(`manifest of ${reference} has unsupported schemaVersion`);
  }
  const configDescriptor = asDescriptor(manifest.config, `manifest of ${reference}`);
  if (configDescriptor.mediaType !== MEDIA.config) {
    throw invalidImage(`unsupported config media type ${configDescriptor.mediaType}`);
  }
  const configBlob = await readJson(
    await verifiedBlob(layout, configDescriptor),
    `config of ${reference}`,
  );
  if (typeof configBlob.architecture !== "string" || typeof configBlob.os !== "string") {
    throw invalidImage(`config of ${reference} has no architecture or os`);
  }
  if (!Array.isArray(manifest.layers) || manifest.layers.length === 0) {
    throw invalidImage(`manifest of ${reference} has no layers`);
  }
  const files: Record<string, string> = {};
  for (const [n, value] of manifest.layers.entries()) {
    const layer = asDescriptor(value, `manifest of ${reference}`);
    const blob = await verifiedBlob(layout, layer);
    const layerDir = join(dir, `layer-${n}`);
    await Deno.mkdir(layerDir);
    await applyLayer(layerDir, blob, layer, files);
  }
  const runtime = isRecord(configBlob.config) ? configBlob.config : {};
  const config: FakeImage["config"] = {};
  if (isStringArray(runtime.Cmd)) config.Cmd = runtime.Cmd;
  if (isStringArray(runtime.Entrypoint)) config.Entrypoint = runtime.Entrypoint;
  if (isStringArray(runtime.Env)) config.Env = runtime.Env;
  if (typeof runtime.WorkingDir === "string") config.WorkingDir = runtime.WorkingDir;
  if (typeof runtime.User === "string") config.User = runtime.User;
  if (isRecord(runtime.Labels)) {
    config.Labels = Object.fromEntries(
      Object.entries(runtime.Labels).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
  }
  return {
    reference,
    files,
    config,
    platform: { os: configBlob.os, architecture: configBlob.architecture },
  };
}

/** Reads every named image of an OCI image-layout tar; stores nothing. */
async function readImageLayout(archive: string): Promise<FakeImage[]> {
  return await withTempDir(async (dir) => {
    const layout = join(dir, "layout");
    await Deno.mkdir(layout);
    await tar(["-C", layout, "-xf", archive], "failed to extract archive");
    const ociLayout = await readJson(join(layout, "oci-layout"), "oci-layout");
    if (ociLayout.imageLayoutVersion !== "1.0.0") {
      throw invalidImage(
        `unsupported imageLayoutVersion ${JSON.stringify(ociLayout.imageLayoutVersion)}`,
      );
    }
    const index = await readJson(join(layout, "index.json"), "index.json");
    if (index.schemaVersion !== 2) {
      throw invalidImage("invalid OCI image layout: index.json schemaVersion is not 2");
    }
    if (!Array.isArray(index.manifests) || index.manifests.length === 0) {
      throw invalidImage("invalid OCI image layout: index.json lists no manifests");
    }
    const images: FakeImage[] = [];
    for (const [n, value] of index.manifests.entries()) {
      const descriptor = asDescriptor(value, "index.json");
      const reference = [APPLE_NAME_ANNOTATION, ...NAME_ANNOTATIONS]
        .map((key) => descriptor.annotations?.[key]).find((v) => v);
      if (!reference) {
        throw invalidImage(
          `image ${descriptor.digest} in index.json has no name ` +
            `(annotation ${NAME_ANNOTATIONS.join(" or ")})`,
        );
      }
      let manifestPath = await verifiedBlob(layout, descriptor);
      if (descriptor.mediaType === MEDIA.index) {
        // A nested index (one entry per platform): take its first manifest.
        const nested = await readJson(manifestPath, `index of ${reference}`);
        const first = Array.isArray(nested.manifests) ? nested.manifests[0] : undefined;
        const inner = asDescriptor(first, `index of ${reference}`);
        if (inner.mediaType !== MEDIA.manifest) {
          throw invalidImage(`unsupported manifest media type ${inner.mediaType}`);
        }
        manifestPath = await verifiedBlob(layout, inner);
      } else if (descriptor.mediaType !== MEDIA.manifest) {
        throw invalidImage(`unsupported manifest media type ${descriptor.mediaType}`);
      }
      const imageDir = join(dir, `image-${n}`);
      await Deno.mkdir(imageDir);
      images.push(await readImage(layout, imageDir, reference, manifestPath));
    }
    return images;
  });
}

function storeImage(world: ContainerWorld, image: FakeImage): void {
  world.images = world.images.filter((i) => i.reference !== image.reference);
  world.images.push(image);
}

// ---------------------------------------------------------------------------
// JSON shapes

/** What a container gets without `--cpus`/`--memory` (the system defaults). */
const DEFAULT_RESOURCES = { cpus: 4, memoryInBytes: 1024 * 1024 * 1024 };

function snapshot(container: FakeContainer) {
  return {
    configuration: {
      id: container.id,
      image: {
        reference: container.image,
        descriptor: {
          mediaType: MEDIA.index,
          digest: `sha256:${sha256(container.image)}`,
          size: 1234,
        },
      },
      initProcess: container.initProcess,
      platform: container.platform,
      mounts: container.mounts ?? [],
      labels: container.labels ?? {},
      networks: (container.networks ?? []).map((network) => ({
        network,
        options: { hostname: container.id },
      })),
      publishedPorts: [],
      resources: container.resources ?? DEFAULT_RESOURCES,
    },
  };
}

/**
 * One element of `list --format json` (and `inspect`): before 1.0.0 the
 * `ContainerSnapshot` (`{configuration, status: "<state>", networks}`); from
 * 1.0.0 the `ManagedContainer` (`{id, configuration, status: {state,
 * networks, startedDate}}`), keys sorted.
 */
function listed(container: FakeContainer, version: Version) {
  const { configuration } = snapshot(container);
  if (before(version, [1, 0, 0])) {
    return { configuration, status: container.state, networks: [] };
  }
  const status = container.state === "running"
    ? { networks: [], startedDate: STARTED, state: container.state }
    : { networks: [], state: container.state };
  return { configuration, id: container.id, status };
}

/** When every running container of the double started (ISO 8601, as the 1.x CLI encodes dates). */
const STARTED = "2026-12-01T00:00:00Z";

async function imageDescription(image: FakeImage) {
  return { reference: image.reference, descriptor: await imageDescriptor(image) };
}

/**
 * One element of `image list --format json`: before 1.0.0 the
 * `ImageDescription` `{reference, descriptor}`; from 1.0.0 the `ImageResource`
 * `{id, configuration: {creationDate, name, descriptor}, variants}` (keys
 * sorted, no `reference`), `id` the index digest's hex.
 */
async function imageListed(image: FakeImage, version: Version) {
  const { reference, descriptor } = await imageDescription(image);
  if (before(version, [1, 0, 0])) return { reference, descriptor };
  const manifest = (await imageBlobs(image, { describeOnly: true })).blobs.at(2)?.descriptor;
  if (manifest === undefined) throw new TypeError("container double: an image without a manifest");
  return {
    configuration: { creationDate: STARTED, descriptor, name: reference },
    id: descriptor.digest.slice("sha256:".length),
    variants: [{
      config: {
        architecture: image.platform.architecture,
        config: image.config,
        os: image.platform.os,
      },
      digest: manifest.digest,
      platform: image.platform,
      size: manifest.size,
    }],
  };
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, column) => widths[column] = Math.max(widths[column] ?? 0, cell.length));
  }
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ").trimEnd())
    .join("\n");
}

// ---------------------------------------------------------------------------
// Commands

interface Context {
  world: ContainerWorld;
  version: Version;
  parsed: Parsed;
}

type Handler = (context: Context) => Promise<void>;

interface Command {
  spec: CommandSpec;
  run: Handler;
  /** Works while the service is down. */
  noService?: boolean;
}

function find(world: ContainerWorld, id: string): FakeContainer {
  const container = world.containers.find((c) => c.id === id);
  if (!container) throw notFound(id);
  return container;
}

/** The container name pattern (`nameValid`). */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function validEntityName(id: string): void {
  if (!NAME.test(id)) {
    throw new CliError("invalidArgument", `invalid entity name ${id}`);
  }
}

/**
 * Runs `action` for each id, printing each success; failures are reported
 * after all ids were tried, and the command then exits 1.
 */
async function forEachId(
  world: ContainerWorld,
  ids: string[],
  action: (id: string) => void,
): Promise<void> {
  const failures: CliError[] = [];
  for (const id of ids) {
    try {
      action(id);
      await print(id);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      failures.push(error);
    }
  }
  for (const failure of failures) await printError(`Error: ${describe(world, failure)}`);
  if (failures.length) throw new Exit(1);
}

const list: Handler = async ({ world, version, parsed }) => {
  const shown = parsed.flags.has("all")
    ? world.containers
    : world.containers.filter((c) => c.state === "running");
  if (parsed.flags.has("quiet")) {
    for (const container of shown) await print(container.id);
  } else if (parsed.values.get("format") === "json") {
    await print(JSON.stringify(shown.map((c) => listed(c, version))));
  } else {
    await print(table([
      ["ID", "IMAGE", "OS", "ARCH", "STATE", "ADDR"],
      ...shown.map((c) => [c.id, c.image, c.platform.os, c.platform.architecture, c.state, ""]),
    ]));
  }
};

const inspect: Handler = async ({ world, version, parsed }) => {
  const found: FakeContainer[] = [];
  for (const id of parsed.positionals) {
    const container = world.containers.find((c) => c.id === id);
    if (container) found.push(container);
    // Before 1.0.0 a missing container is silently left out (`[]`, exit 0).
    else if (!before(version, [1, 0, 0])) throw notFound(id);
  }
  await print(JSON.stringify(found.map((c) => listed(c, version))));
};

function stopContainer(world: ContainerWorld, container: FakeContainer): void {
  container.state = "stopped";
  if (container.autoRemove) world.containers = world.containers.filter((c) => c !== container);
}

const stop: Handler = async ({ world, parsed }) => {
  const all = parsed.flags.has("all");
  if (!all && parsed.positionals.length === 0) {
    throw new CliError("invalidArgument", "no containers specified and --all not supplied");
  }
  if (all && parsed.positionals.length > 0) {
    throw new CliError(
      "invalidArgument",
      "explicitly supplied container IDs conflict with the --all flag",
    );
  }
  const ids = all
    ? world.containers.filter((c) => c.state === "running").map((c) => c.id)
    : parsed.positionals;
  await forEachId(world, ids, (id) => stopContainer(world, find(world, id)));
};

const start: Handler = async ({ world, parsed }) => {
  const container = find(world, operand(parsed, 0));
  container.state = "running";
  await print(container.id);
};

/**
 * `exec [-i] [-t] ID CMD…` (facts): runs a command in a running container.
 * Like the smolvm double's `machine exec`, it performs what a test needs on
 * the container's files: `true`, `false`, `cat PATH…`, `cat` (stdin to
 * stdout, with `-i`), `tee PATH` (stdin, with `-i`). A container that is not running is refused with the double's
 * own words, `invalidState: "container ID is not running"`.
 */
const exec: Handler = async ({ world, parsed }) => {
  const [, program, ...operands] = parsed.positionals;
  const id = operand(parsed, 0);
  const container = find(world, id);
  if (container.state !== "running") {
    throw new CliError("invalidState", `container ${id} is not running`);
  }
  const key = (path: string) => path.replace(/^\//, "");
  switch (program) {
    case "true":
      return;
    case "false":
      throw new Exit(1);
    case "cat": {
      if (operands.length === 0) {
        // Without -i the command's stdin is empty.
        if (parsed.flags.has("interactive")) await Deno.stdin.readable.pipeTo(Deno.stdout.writable);
        return;
      }
      let status = 0;
      for (const path of operands) {
        if (Object.hasOwn(container.files, key(path))) {
          await printContent(container.files[key(path)] ?? "");
        } else {
          await printError(`cat: ${path}: No such file or directory`);
          status = 1;
        }
      }
      if (status) throw new Exit(status);
      return;
    }
    case "tee": {
      if (operands.length !== 1 || !parsed.flags.has("interactive")) {
        throw new Error("container double: 'exec' other than `-i ID tee PATH` is not simulated");
      }
      const text = await new Response(Deno.stdin.readable).text();
      container.files[key(operand(parsed, 2))] = text;
      await Deno.stdout.write(new TextEncoder().encode(text));
      return;
    }
    default:
      throw new Error(`container double: 'exec ID ${program ?? ""}' is not simulated`);
  }
};

const remove: Handler = async ({ world, parsed }) => {
  const all = parsed.flags.has("all");
  const force = parsed.flags.has("force");
  if (!all && parsed.positionals.length === 0) {
    throw new CliError("invalidArgument", "no containers specified and --all not supplied");
  }
  if (all && parsed.positionals.length > 0) {
    throw new CliError(
      "invalidArgument",
      "explicitly supplied container ID(s) conflict with the --all flag",
    );
  }
  const ids = all
    ? world.containers.filter((c) => force || c.state !== "running").map((c) => c.id)
    : [...new Set(parsed.positionals)];
  await forEachId(world, ids, (id) => {
    const container = find(world, id);
    if (container.state === "stopping" || (container.state === "running" && !force)) {
      throw new CliError(
        "invalidState",
        `container ${id} is ${container.state} and can not be deleted`,
      );
    }
    world.containers = world.containers.filter((c) => c !== container);
  });
};

// ---------------------------------------------------------------------------
// run and create (Utility.containerConfigFromFlags and Parser in apple/container)

/** Apple silicon: the default `--arch`. */
const HOST_ARCHITECTURE = "arm64";

/**
 * `ClientImage.normalizeReference`: a reference without a registry domain
 * gets `docker.io/`, a one-component docker.io path gets `library/`, and an
 * untagged reference gets `:latest`.
 */
function normalizeReference(reference: string): string {
  const slash = reference.indexOf("/");
  const first = slash === -1 ? "" : reference.slice(0, slash);
  const hasDomain = first.includes(".") || first.includes(":") || first === "localhost";
  const full = hasDomain ? reference : `docker.io/${reference}`;
  const domainEnd = full.indexOf("/");
  let path = full.slice(domainEnd + 1);
  if (full.slice(0, domainEnd) === "docker.io" && !path.includes("/")) path = `library/${path}`;
  return withDefaultTag(`${full.slice(0, domainEnd)}/${path}`);
}

/** `reference` with `:latest` added when it has neither tag nor digest. */
function withDefaultTag(reference: string): string {
  const name = reference.slice(reference.lastIndexOf("/") + 1);
  return name.includes(":") || reference.includes("@") ? reference : `${reference}:latest`;
}

/**
 * `ClientImage.fetch`: the stored image whose reference is `reference`, its
 * `:latest` form or its normalized form; a missing image would be pulled,
 * which the double cannot do.
 */
function fetchImage(world: ContainerWorld, reference: string): FakeImage {
  const candidates = [reference, withDefaultTag(reference), normalizeReference(reference)];
  for (const candidate of candidates) {
    const image = world.images.find((i) => i.reference === candidate);
    if (image) return image;
  }
  throw new CliError(
    "internalError",
    `failed to pull image ${normalizeReference(reference)}: ` +
      "the container test double cannot reach a registry (put the image in world.images)",
  );
}

/** `--platform` (which wins), else `--os` and `--arch`. */
function requestedPlatform(parsed: Parsed): { os: string; architecture: string } {
  const aliases: Record<string, string> = { aarch64: "arm64", x86_64: "amd64" };
  const arch = (name: string) => aliases[name] ?? name;
  const platform = parsed.values.get("platform");
  if (platform !== undefined) {
    const [os, architecture] = platform.split("/");
    if (!os || !architecture) {
      throw new CliError("invalidArgument", `invalid platform ${platform}`);
    }
    return { os, architecture: arch(architecture) };
  }
  return {
    os: parsed.values.get("os") ?? "linux",
    architecture: arch(parsed.values.get("arch") ?? HOST_ARCHITECTURE),
  };
}

/**
 * `Parser.env`: `KEY=value` as given (`KEY=` sets an empty value); a bare
 * `KEY` takes the host's value, and is dropped when the host has none.
 */
function expandEnv(entries: string[]): string[] {
  return entries.flatMap((entry) => {
    if (entry.includes("=")) return [entry];
    const value = Deno.env.get(entry);
    return value === undefined ? [] : [`${entry}=${value}`];
  });
}

/** `Parser.envFile`: `KEY=value` lines; `#` comments and blank lines skipped. */
async function readEnvFile(path: string): Promise<string[]> {
  let content: string;
  try {
    content = await Deno.readTextFile(resolve(path));
  } catch {
    throw new CliError("invalidArgument", `failed to read envfile at ${path}`);
  }
  const lines: string[] = [];
  for (const line of content.split(/\r\n|\r|\n/)) {
    const trimmed = line.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const equals = trimmed.indexOf("=");
    const variable = (equals === -1 ? trimmed : trimmed.slice(0, equals)).replace(/^[ \t]+/, "");
    if (/[ \t]/.test(variable)) {
      throw new CliError("invalidArgument", `variable '${variable}' contains whitespaces`);
    }
    if (variable === "") {
      throw new CliError("invalidArgument", `no variable name on line '${trimmed}'`);
    }
    if (equals !== -1) lines.push(`${variable}=${trimmed.slice(equals + 1)}`);
    else {
      const value = Deno.env.get(variable);
      if (value !== undefined) lines.push(`${variable}=${value}`);
    }
  }
  return lines;
}

/**
 * `Parser.allEnv`: the image's Env, then each `--env-file`, then `--env`; a
 * later entry for a KEY replaces an earlier one. (The real CLI dedupes
 * through a Swift dictionary, so its order is unspecified; the double keeps
 * each KEY where it first appeared.)
 */
async function environment(image: FakeImage, parsed: Parsed): Promise<string[]> {
  const combined = expandEnv(image.config.Env ?? []);
  for (const path of valuesOf(parsed, "env-file")) combined.push(...await readEnvFile(path));
  combined.push(...expandEnv(valuesOf(parsed, "env")));
  const byKey = new Map<string, string>();
  for (const entry of combined) byKey.set(entry.split("=", 1)[0] ?? entry, entry);
  return [...byKey.values()];
}

/** `Parser.process`: the init process from the image config and the flags. */
async function initProcess(
  image: FakeImage,
  parsed: Parsed,
  args: string[],
): Promise<FakeContainer["initProcess"]> {
  const command: string[] = [];
  const entrypoint = parsed.values.get("entrypoint");
  if (entrypoint) command.push(entrypoint);
  else if (image.config.Entrypoint?.length) command.push(...image.config.Entrypoint);
  if (args.length) command.push(...args);
  else if (!entrypoint && image.config.Cmd?.length) command.push(...image.config.Cmd);
  const [executable, ...commandArguments] = command;
  if (executable === undefined) {
    throw new CliError("invalidArgument", "command/entrypoint not specified for container process");
  }
  // Parser.user: --user wins, then --uid with --gid, then --uid alone; else the image's.
  const userFlag = parsed.values.get("user");
  const uid = parsed.values.get("uid");
  const gid = parsed.values.get("gid");
  let user: FakeUser = image.config.User !== undefined
    ? { raw: { userString: image.config.User } }
    : { id: { uid: 0, gid: 0 } };
  if (userFlag) user = { raw: { userString: userFlag } };
  else if (uid !== undefined && gid !== undefined) {
    user = { id: { uid: Number(uid), gid: Number(gid) } };
  } else if (uid !== undefined) user = { raw: { userString: uid } };
  return {
    executable,
    arguments: commandArguments,
    environment: await environment(image, parsed),
    workingDirectory: parsed.values.get("workdir") ?? image.config.WorkingDir ?? "/",
    terminal: parsed.flags.has("tty"),
    user,
  };
}

/** `Parser.memoryStringAsMiB`: a number with an optional b/k/m/g/t/p (+ `b`/`ib`) suffix. */
function mebibytes(text: string): number {
  const match = /^\s*([0-9.]+)\s*(?:([bkmgtp])(b|ib)?)?\s*$/i.exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (!match || Number.isNaN(value)) throw new CliError("invalidArgument", "invalid size");
  const exponent = "bkmgtp".indexOf((match[2] ?? "b").toLowerCase());
  return Math.floor((value * 1024 ** exponent) / 1024 ** 2);
}

/** A volume name (`VolumeStorage.volumeNamePattern`; the exact pattern is unverified). */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function namedVolume(
  world: ContainerWorld,
  name: string,
  destination: string,
  options: string[],
): FakeMount {
  if (!VOLUME_NAME.test(name)) {
    throw new CliError(
      "invalidArgument",
      `invalid volume name '${name}': must match ${VOLUME_NAME.source}`,
    );
  }
  if (destination === "") {
    throw new CliError("invalidArgument", "volume destination cannot be empty");
  }
  if (!(world.volumes ?? []).includes(name)) {
    throw new CliError("invalidArgument", `volume '${name}' not found`);
  }
  return {
    type: { volume: { name, format: "ext4", cache: { auto: {} }, sync: { full: {} } } },
    source: `/container-double/volumes/${name}/volume.img`,
    destination,
    options,
  };
}

async function pathKind(path: string): Promise<"directory" | "file" | undefined> {
  const info = await Deno.stat(path).catch(() => undefined);
  return info === undefined ? undefined : info.isDirectory ? "directory" : "file";
}

/** `Parser.volume`: `-v [SOURCE:]DESTINATION[:OPTIONS]`. */
async function volumeMount(world: ContainerWorld, volume: string): Promise<FakeMount> {
  const parts = volume.replace(/^:+/, "").split(":").filter((p) => p !== "");
  const [first, destination, third] = parts;
  if (first !== undefined && destination === undefined) {
    // An anonymous volume: the real CLI creates it.
    const name = `anonymous-${crypto.randomUUID()}`;
    return namedVolume({ ...world, volumes: [name] }, name, first, []);
  }
  if (first === undefined || destination === undefined || parts.length > 3) {
    throw new CliError("invalidArgument", `invalid volume format ${volume}`);
  }
  const source = first;
  const options = third === undefined ? [] : third.split(",").filter((o) => o !== "");
  if (!source.includes("/") && source !== "." && source !== "..") {
    return namedVolume(world, source, destination, options);
  }
  const absolute = resolve(source);
  if (await pathKind(absolute) === undefined) {
    throw new CliError("invalidArgument", `path '${source}' does not exist`);
  }
  return { type: { virtiofs: {} }, source: absolute, destination, options };
}

/** `Parser.mount`: `--mount type=bind|virtiofs|tmpfs|volume,source=…,target=…[,readonly]`. */
async function mountOption(world: ContainerWorld, mount: string): Promise<FakeMount> {
  const directives: Record<string, string> = { type: "virtiofs" };
  const parts = mount.split(",").filter((p) => p !== "");
  if (parts.length === 0) throw new CliError("invalidArgument", `invalid mount format: ${mount}`);
  for (const part of parts) {
    const equals = part.indexOf("=");
    let key = equals === -1 ? part : part.slice(0, equals);
    const keys: Record<string, string> = {
      type: "type",
      size: "size",
      mode: "mode",
      source: "source",
      src: "source",
      destination: "destination",
      dst: "destination",
      target: "destination",
      readonly: "ro",
      ro: "ro",
    };
    const canonical = Object.hasOwn(keys, key) ? keys[key] : undefined;
    if (canonical === undefined) {
      throw new CliError("invalidArgument", `unknown directive ${key} when parsing mount ${mount}`);
    }
    key = canonical;
    if (key !== "ro" && equals === -1) {
      throw new CliError(
        "invalidArgument",
        `invalid directive format missing value ${part} in ${mount}`,
      );
    }
    directives[key] = key === "ro" ? "" : part.slice(equals + 1);
  }
  const type = directives.type === "bind" ? "virtiofs" : directives.type ?? "virtiofs";
  if (!["virtiofs", "tmpfs", "volume"].includes(type)) {
    throw new CliError("invalidArgument", `unsupported mount type ${directives.type}`);
  }
  const options: string[] = [];
  if ("ro" in directives) options.push("ro");
  for (const key of ["size", "mode"]) {
    if (!(key in directives)) continue;
    if (type !== "tmpfs") {
      throw new CliError(
        "invalidArgument",
        `unsupported option ${key} for ${directives.type} mount`,
      );
    }
    options.push(
      key === "size"
        ? `size=${mebibytes(directives.size ?? "") * 1024 * 1024}`
        : `mode=${directives.mode}`,
    );
  }
  const destination = directives.destination ?? "";
  const source = directives.source;
  if (type === "volume") {
    const name = source ?? `anonymous-${crypto.randomUUID()}`;
    const known = source === undefined ? { volumes: [name] } : {};
    return namedVolume({ ...world, ...known }, name, destination, options);
  }
  if (type === "tmpfs") {
    if (source !== undefined) {
      throw new CliError("invalidArgument", "cannot specify source for tmpfs mount");
    }
    if (destination === "") {
      throw new CliError("invalidArgument", "mount destination cannot be empty");
    }
    return { type: { tmpfs: {} }, source: "tmpfs", destination, options };
  }
  if (source === undefined) {
    throw new CliError("invalidArgument", " is not an absolute path on the host");
  }
  const absolute = resolve(source);
  const kind = await pathKind(absolute);
  if (kind === undefined) throw new CliError("invalidArgument", `path '${source}' does not exist`);
  if (kind !== "directory") {
    throw new CliError("invalidArgument", `path '${source}' is not a directory`);
  }
  if (destination === "") {
    throw new CliError("invalidArgument", "mount destination cannot be empty");
  }
  return { type: { virtiofs: {} }, source: absolute, destination, options };
}

/** `--tmpfs`, then `-v`, then `--mount`, as the real CLI orders them. */
async function mounts(world: ContainerWorld, parsed: Parsed): Promise<FakeMount[]> {
  const result: FakeMount[] = [...new Set(valuesOf(parsed, "tmpfs"))].map((destination) => {
    if (destination === "") {
      throw new CliError("invalidArgument", "mount destination cannot be empty");
    }
    return { type: { tmpfs: {} }, source: "tmpfs", destination, options: [] };
  });
  for (const volume of valuesOf(parsed, "volume")) result.push(await volumeMount(world, volume));
  for (const mount of new Set(valuesOf(parsed, "mount"))) {
    result.push(await mountOption(world, mount));
  }
  return result;
}

/** `--network NAME[,mac=…]` (older versions: `NAME[:ip=…]`); `none` detaches. */
function networks(world: ContainerWorld, parsed: Parsed): string[] {
  const names = valuesOf(parsed, "network").map((spec) => {
    const [name = ""] = spec.split(/[,:]/, 1);
    if (name === "") throw new CliError("invalidArgument", "network name cannot be empty");
    return name;
  });
  if (names.includes("none")) {
    if (names.length !== 1) {
      throw new CliError("unsupported", "no other networks may be created along with network none");
    }
    return [];
  }
  if (names.length === 0) return ["default"];
  for (const name of names) {
    if (name !== "default" && !(world.networks ?? []).includes(name)) {
      throw new CliError("notFound", `network ${name} not found`);
    }
  }
  return names;
}

/** `Parser.labels`: `key=value` or `key` (empty value). */
function labels(parsed: Parsed): Record<string, string> {
  const result: Record<string, string> = {};
  for (const label of valuesOf(parsed, "label")) {
    if (label === "") throw new CliError("invalidArgument", "label cannot be an empty string");
    // Swift `split(separator: "=", maxSplits: 2)`, empty pieces dropped.
    const pieces: string[] = [];
    let rest = label;
    while (pieces.length < 2 && rest.includes("=")) {
      const equals = rest.indexOf("=");
      if (equals > 0) pieces.push(rest.slice(0, equals));
      rest = rest.slice(equals + 1);
    }
    if (rest !== "") pieces.push(rest);
    const [key, value = "", extra] = pieces;
    if (key !== undefined && extra === undefined) result[key] = value;
    else throw new CliError("invalidArgument", `invalid label format ${label}`);
  }
  return result;
}

/**
 * `run` (start: true) and `create` (start: false): checks everything the
 * real CLI checks, in its order, then adds the container and prints its id.
 */
function createHandler(start: boolean): Handler {
  return async ({ world, version, parsed }) => {
    const [reference, args] = [operand(parsed, 0), parsed.positionals.slice(1)];
    const id = parsed.values.get("name") ?? crypto.randomUUID();
    // From 1.2.0 `ManagedContainer.nameValid`: the pattern and at most 63 characters.
    if (!before(version, [1, 2, 0]) && (id.length > 63 || !NAME.test(id))) {
      throw new CliError("invalidArgument", `container ID ${id} is not a valid container ID`);
    }
    if (!NAME.test(id)) {
      throw new CliError(
        "invalidArgument",
        start ? `invalid entity name ${id}` : `container ID ${id} is not a valid container ID`,
      );
    }
    if (world.containers.some((c) => c.id === id)) {
      throw new CliError("exists", `container with id ${id} already exists`);
    }
    const platform = requestedPlatform(parsed);
    const image = fetchImage(world, reference);
    if (
      image.platform.os !== platform.os || image.platform.architecture !== platform.architecture
    ) {
      throw new CliError("unsupported", `platform ${platform.os}/${platform.architecture}`);
    }
    const kernel = parsed.values.get("kernel");
    if (kernel !== undefined && await pathKind(resolve(kernel)) === undefined) {
      throw new CliError("notFound", `Kernel file not found at path ${resolve(kernel)}`);
    }
    const process = await initProcess(image, parsed, args);
    const cpus = parsed.values.get("cpus");
    const memory = parsed.values.get("memory");
    const resources = {
      cpus: cpus === undefined ? DEFAULT_RESOURCES.cpus : Number(cpus),
      memoryInBytes: memory === undefined
        ? DEFAULT_RESOURCES.memoryInBytes
        : mebibytes(memory) * 1024 * 1024,
    };
    const container: FakeContainer = {
      id,
      state: start ? "running" : "stopped",
      autoRemove: parsed.flags.has("rm"),
      image: image.reference,
      initProcess: process,
      platform,
      files: { ...image.files },
      mounts: await mounts(world, parsed),
      labels: {},
      networks: networks(world, parsed),
      resources,
    };
    container.labels = labels(parsed);
    if (start && !parsed.flags.has("detach")) {
      throw new CliError(
        "unsupported",
        "container test double: attached run is not simulated (run with -d/--detach)",
      );
    }
    const cidfile = parsed.values.get("cidfile");
    if (cidfile) await Deno.writeTextFile(resolve(cidfile), id, { mode: 0o644 });
    world.containers.push(container);
    await print(id);
  };
}

/** The export guard of the version: which states may be exported. */
function checkExportable(container: FakeContainer, version: Version): void {
  if (before(version, [1, 2, 1])) {
    if (container.state !== "stopped") {
      throw new CliError("invalidState", "container is not stopped");
    }
  } else if (container.state !== "running" && container.state !== "stopped") {
    throw new CliError("invalidState", "container must be running or stopped");
  }
}

async function exportDelay(world: ContainerWorld): Promise<void> {
  if (world.exportDelayMs) await new Promise((done) => setTimeout(done, world.exportDelayMs));
}

/** 0.11.0 and later: `export [-o FILE] ID` writes a flat tar of the root filesystem. */
const exportTar: Handler = async ({ world, version, parsed }) => {
  const id = operand(parsed, 0);
  validEntityName(id);
  const container = find(world, id);
  checkExportable(container, version);
  await exportDelay(world);
  await withTempDir(async (dir) => {
    const archive = join(dir, "archive.tar");
    await writeFilesTar(container.files, archive);
    await deliver(archive, parsed.values.get("output"));
  });
};

/** 0.10.x: `export --image NAME ID` builds an image (FROM scratch, ADD archive.tar .). */
const exportImage: Handler = async ({ world, version, parsed }) => {
  const id = operand(parsed, 0);
  const container = find(world, id);
  checkExportable(container, version);
  await exportDelay(world);
  storeImage(world, {
    reference: parsed.values.get("image")!,
    files: { ...container.files },
    config: {},
    platform: { ...container.platform },
  });
};

const imageLoad: Handler = async ({ world, version, parsed }) => {
  const images = await withTempDir(async (dir) => {
    let input = parsed.values.get("input");
    if (input === undefined) {
      input = join(dir, "stdin.tar");
      await Deno.writeFile(input, Deno.stdin.readable);
    }
    const path = resolve(input);
    if (!(await Deno.stat(path).then((s) => s.isFile, () => false))) {
      await print(`File does not exist ${path}`);
      throw new Exit(1);
    }
    return await readImageLayout(path);
  });
  for (const image of images) storeImage(world, image);
  // Before 1.0.0 a heading first; from 1.0.0 the names alone.
  if (before(version, [1, 0, 0])) await print("Loaded images:");
  for (const image of images) await print(image.reference);
};

const imageList: Handler = async ({ world, version, parsed }) => {
  if (parsed.flags.has("quiet")) {
    for (const image of world.images) await print(image.reference);
  } else if (parsed.values.get("format") === "json") {
    const listed = [];
    for (const image of world.images) listed.push(await imageListed(image, version));
    await print(JSON.stringify(listed));
  } else {
    const rows = [];
    for (const image of world.images) {
      const colon = image.reference.lastIndexOf(":");
      const tagged = colon > image.reference.lastIndexOf("/");
      rows.push([
        tagged ? image.reference.slice(0, colon) : image.reference,
        tagged ? image.reference.slice(colon + 1) : "<none>",
        (await imageDescriptor(image)).digest.slice(7, 19),
      ]);
    }
    await print(table([["NAME", "TAG", "DIGEST"], ...rows]));
  }
};

// `container image tag SOURCE TARGET`: TARGET names the same image (replacing
// what it named); a missing SOURCE is not found.
const imageTag: Handler = async ({ world, parsed }) => {
  const [source, target] = [operand(parsed, 0), operand(parsed, 1)];
  const image = world.images.find((i) => i.reference === source);
  if (!image) throw imageNotFound(world, source);
  world.images = world.images.filter((i) => i.reference !== target);
  world.images.push({ ...structuredClone(image), reference: target });
  await print(target);
};

const imageDelete: Handler = async ({ world, parsed }) => {
  const all = parsed.flags.has("all");
  if (!all && parsed.positionals.length === 0) {
    throw new CliError("invalidArgument", "no images specified and --all not supplied");
  }
  if (all && parsed.positionals.length > 0) {
    throw new CliError(
      "invalidArgument",
      "explicitly supplied images conflict with the --all flag",
    );
  }
  const references = all ? world.images.map((i) => i.reference) : parsed.positionals;
  const missing: string[] = [];
  let deleted = false;
  for (const reference of references) {
    if (!world.images.some((i) => i.reference === reference)) {
      if (!parsed.flags.has("force")) missing.push(reference);
      continue;
    }
    world.images = world.images.filter((i) => i.reference !== reference);
    deleted = true;
    await print(reference);
  }
  if (deleted) await print("Reclaimed 0 bytes in disk space");
  if (missing.length) {
    const listed = missing.map((r) => `"${r} (${describe(world, imageNotFound(world, r))})"`);
    throw new CliError(
      "internalError",
      `failed to delete one or more images: [${listed.join(", ")}]`,
    );
  }
};

const imageSave: Handler = async ({ world, version, parsed }) => {
  const images: FakeImage[] = [];
  for (const reference of parsed.positionals) {
    const image = world.images.find((i) => i.reference === reference);
    if (image) images.push(image);
    else {
      const error = imageNotFound(world, reference);
      await print(`failed to get image for reference ${reference}: ${describe(world, error)}`);
    }
  }
  if (images.length !== parsed.positionals.length) {
    throw new CliError("invalidArgument", "failed to save image(s)");
  }
  await withTempDir(async (dir) => {
    const archive = join(dir, "image.tar");
    await writeImageLayout(images, archive);
    await deliver(archive, parsed.values.get("output"));
  });
  // The references are printed even after a tar written to stdout: on stdout, and
  // from 1.1.0 on stderr when the tar took stdout.
  const toStderr = parsed.values.get("output") === undefined && !before(version, [1, 1, 0]);
  for (const reference of parsed.positionals) {
    await (toStderr ? printError(reference) : print(reference));
  }
};

const systemStart: Handler = async ({ world }) => {
  world.serviceRunning = true;
  await print("Verifying apiserver is running...");
};

const systemStatus: Handler = async ({ world }) => {
  if (!world.serviceRunning) {
    await print("apiserver is not running and not registered with launchd");
    throw new Exit(1);
  }
  await print("apiserver is running");
};

const systemVersion: Handler = async ({ world }) => {
  await print(versionLine(world));
};

function spec(
  path: string[],
  options: OptionSpec[] = [],
  positionals: PositionalSpec[] = [],
): CommandSpec {
  return { path, options: [...options, DEBUG], positionals };
}

// ---------------------------------------------------------------------------
// Registries: `image push`, `image pull`, `registry login` (src ImagePush.swift,
// ImagePull.swift, RegistryLogin.swift, RequestScheme.swift; facts)

/**
 * The scheme for `host`: `--scheme http|https` as given; `auto` (the default
 * before 1.3.0) is http for an internal host (localhost, 10/8, 127/8,
 * 172.16/12, 192.168/16) and https otherwise (src RequestScheme.swift). From
 * 1.3.0 the default is https and `auto` is gone (facts); an unknown scheme is
 * `unsupported scheme X` (src).
 */
function schemeFor(parsed: Parsed, version: Version, host: string): "http" | "https" {
  const modern = !before(version, [1, 3, 0]);
  const scheme = parsed.values.get("scheme") ?? (modern ? "https" : "auto");
  if (scheme === "http" || scheme === "https") return scheme;
  if (scheme !== "auto" || modern) {
    throw new CliError("invalidArgument", `unsupported scheme ${scheme}`);
  }
  const bare = host.replace(/:\d+$/, "");
  const internal = bare === "localhost" ||
    /^(10|127)\.\d+\.\d+\.\d+$/.test(bare) ||
    /^192\.168\.\d+\.\d+$/.test(bare) ||
    /^172\.(1[6-9]|2\d|3[01])\.\d+\.\d+$/.test(bare);
  return internal ? "http" : "https";
}

/** The reference, or `invalidArgument` as the CLI refuses a malformed one. */
function registryReference(reference: string): Reference {
  const parsed = parseReference(reference);
  if (!parsed) throw new CliError("invalidArgument", `invalid reference ${reference}`);
  return parsed;
}

/**
 * A registry failure in the double's own words (the real texts come from
 * apple/containerization's RegistryClient, not read): one line naming what
 * failed and where.
 */
function registryFailure(operation: string, reference: string, error: RegistryError): CliError {
  const failure = error.failure;
  switch (failure.kind) {
    case "unreachable":
      return new CliError(
        "internalError",
        `failed to ${operation} image ${reference}: could not connect to ${failure.url}`,
      );
    case "tls":
      return new CliError(
        "internalError",
        `failed to ${operation} image ${reference}: ${
          failure.url.startsWith("https:")
            ? `TLS handshake with ${failure.url} failed`
            : `${failure.url}: the server answered HTTP over a TLS port`
        }`,
      );
    case "untrusted":
      return new CliError(
        "internalError",
        `failed to ${operation} image ${reference}: the TLS certificate of ${failure.url} is ` +
          `not trusted`,
      );
    case "unauthorized":
      return new CliError(
        "internalError",
        `failed to ${operation} image ${reference}: unauthorized: authentication required ` +
          `for ${failure.host}`,
      );
    case "unknown":
      return new CliError(
        "notFound",
        `failed to ${operation} image ${reference}: manifest unknown`,
      );
    case "mismatch":
      return new CliError(
        "internalError",
        `failed to ${operation} image ${reference}: digest mismatch: expected ` +
          `${failure.expected}, got ${failure.actual}`,
      );
  }
}

/** The JSON of `value` with its object keys sorted: the same content, the same bytes. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, each]) => each !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${
      entries.map(([key, each]) => `${JSON.stringify(key)}:${canonical(each)}`).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

const IMAGE_INDEX = "application/vnd.oci.image.index.v1+json";

// `container image push REF`: the image must be in the store; prints the
// reference when done (src ImagePush.swift).
const imagePush: Handler = async ({ world, version, parsed }) => {
  const reference = operand(parsed, 0);
  const image = world.images.find((i) => i.reference === reference);
  if (!image) throw imageNotFound(world, reference);
  const ref = registryReference(reference);
  const scheme = schemeFor(parsed, version, ref.host);
  const content = { files: image.files, config: image.config, platform: image.platform };
  try {
    await pushToRegistry(
      { ...ref, tag: ref.tag ?? "latest" },
      scheme,
      world.logins?.[ref.host],
      { mediaType: IMAGE_INDEX },
      new TextEncoder().encode(canonical(content)),
    );
  } catch (error) {
    if (error instanceof RegistryError) throw registryFailure("push", reference, error);
    throw error;
  }
  await print(image.reference);
};

// `container image pull REF`: fetches and unpacks into the store under the
// normalized reference (`:latest` added); prints nothing but progress (src ImagePull.swift).
const imagePull: Handler = async ({ world, version, parsed }) => {
  const reference = operand(parsed, 0);
  const ref = registryReference(reference);
  const scheme = schemeFor(parsed, version, ref.host);
  let pulled;
  try {
    pulled = await pullFromRegistry(ref, scheme, world.logins?.[ref.host]);
  } catch (error) {
    if (error instanceof RegistryError) throw registryFailure("pull", reference, error);
    throw error;
  }
  if (pulled.manifest.mediaType !== IMAGE_INDEX) {
    throw new CliError(
      "unsupported",
      `failed to pull image ${reference}: ${
        pulled.manifest.artifactType ?? pulled.manifest.mediaType
      } is not an image`,
    );
  }
  const content = JSON.parse(new TextDecoder().decode(pulled.blob)) as Pick<
    FakeImage,
    "files" | "config" | "platform"
  >;
  const stored = ref.digest || ref.tag ? reference : `${reference}:latest`;
  world.images = world.images.filter((i) => i.reference !== stored);
  world.images.push({ reference: stored, ...content });
};

// `container registry login [--scheme S] [--password-stdin] [-u NAME] SERVER`:
// checks the credentials against the registry, then keeps them (the keychain;
// here the world's `logins`) (src RegistryLogin.swift).
const registryLogin: Handler = async ({ world, version, parsed }) => {
  const server = operand(parsed, 0);
  const username = parsed.values.get("username") ?? "";
  if (!parsed.flags.has("password-stdin")) {
    throw new CliError(
      "unsupported",
      "container test double: an interactive password prompt is not simulated (use --password-stdin)",
    );
  }
  if (username === "") {
    throw new CliError("invalidArgument", "must provide --username with --password-stdin");
  }
  const password = (await new Response(Deno.stdin.readable).text()).trim();
  const scheme = schemeFor(parsed, version, server);
  const login = { username, password };
  try {
    await pingRegistry(server, scheme, login);
  } catch (error) {
    if (error instanceof RegistryError) throw registryFailure("log in to", server, error);
    throw error;
  }
  world.logins = { ...world.logins, [server]: login };
};

const ALL: OptionSpec = { long: "all", short: "a" };
const FORMAT: OptionSpec = { long: "format", value: "<format>", choices: ["json", "table"] };
const QUIET: OptionSpec = { long: "quiet", short: "q" };
const IDS: PositionalSpec = { name: "container-ids", required: false, variadic: true };

function exportCommand(version: Version): Command {
  if (before(version, [0, 11, 0])) {
    return {
      spec: spec(["export"], [{ long: "image", value: "<image>", required: true }], [
        { name: "id", required: true, variadic: false },
      ]),
      run: exportImage,
    };
  }
  return {
    spec: spec(["export"], [{ long: "output", short: "o", value: "<output>" }], [
      { name: "id", required: true, variadic: false },
    ]),
    run: exportTar,
  };
}

/**
 * The options of `run` and `create` (Flags.Process, Resource, Management,
 * Registry, Progress, ImageFetch): all accepted; the ones that only matter
 * to a real VM (DNS, ports, sockets, ssh, rosetta…) are ignored.
 */
function runOptions(): OptionSpec[] {
  const many = (long: string, value: string, short?: string): OptionSpec => ({
    long,
    ...short === undefined ? {} : { short },
    value,
    repeatable: true,
  });
  return [
    // Process
    many("env", "<env>", "e"),
    many("env-file", "<env-file>"),
    { long: "gid", value: "<gid>", integer: true },
    { long: "interactive", short: "i" },
    { long: "tty", short: "t" },
    { long: "user", short: "u", value: "<user>" },
    { long: "uid", value: "<uid>", integer: true },
    { long: "workdir", aliases: ["cwd"], short: "w", value: "<dir>" },
    many("ulimit", "<ulimit>"),
    // Resource
    { long: "cpus", short: "c", value: "<cpus>", integer: true },
    { long: "memory", short: "m", value: "<memory>" },
    // Management
    { long: "arch", short: "a", value: "<arch>" },
    { long: "cidfile", value: "<cidfile>" },
    { long: "detach", short: "d" },
    many("dns", "<ip>"),
    { long: "dns-domain", value: "<domain>" },
    many("dns-option", "<option>"),
    many("dns-search", "<domain>"),
    { long: "entrypoint", value: "<cmd>" },
    { long: "kernel", short: "k", value: "<path>" },
    many("label", "<label>", "l"),
    many("mount", "<mount>"),
    { long: "name", value: "<name>" },
    many("network", "<network>"),
    { long: "no-dns" },
    { long: "os", value: "<os>" },
    many("publish", "<spec>", "p"),
    { long: "platform", value: "<platform>" },
    many("publish-socket", "<spec>"),
    { long: "rm", aliases: ["remove"] },
    { long: "rosetta" },
    { long: "ssh" },
    many("tmpfs", "<tmpfs>"),
    many("volume", "<volume>", "v"),
    { long: "virtualization" },
    { long: "read-only" },
    // Registry, Progress, ImageFetch
    { long: "scheme", value: "<scheme>" },
    { long: "progress", value: "<type>", choices: ["none", "ansi", "plain"] },
    { long: "disable-progress-updates" },
    { long: "max-concurrent-downloads", value: "<max-concurrent-downloads>", integer: true },
  ];
}

/** The options of `image push`/`pull` (Flags.Registry, Progress, platform). */
function registryOptions(): OptionSpec[] {
  return [
    { long: "scheme", value: "<scheme>" },
    { long: "progress", value: "<type>", choices: ["none", "ansi", "plain"] },
    { long: "disable-progress-updates" },
    { long: "arch", short: "a", value: "<arch>" },
    { long: "os", value: "<os>" },
    { long: "platform", value: "<platform>" },
  ];
}

const RUN_POSITIONALS: PositionalSpec[] = [
  { name: "image", required: true, variadic: false },
  { name: "arguments", required: false, variadic: true, passthrough: true },
];

/** Subcommands by the words that name them (aliases included). */
function commands(version: Version): Record<string, Command | Record<string, Command>> {
  const listCommand: Command = {
    spec: spec(["list"], [ALL, QUIET, FORMAT]),
    run: list,
  };
  const deleteCommand: Command = {
    spec: spec(["delete"], [ALL, { long: "force", short: "f" }], [IDS]),
    run: remove,
  };
  const imageListCommand: Command = {
    spec: spec(["image", "list"], [QUIET, { long: "verbose", short: "v" }, FORMAT]),
    run: imageList,
  };
  const imageDeleteCommand: Command = {
    spec: spec(["image", "delete"], [ALL, { long: "force", short: "f" }], [
      { name: "images", required: false, variadic: true },
    ]),
    run: imageDelete,
  };
  return {
    run: { spec: spec(["run"], runOptions(), RUN_POSITIONALS), run: createHandler(true) },
    create: { spec: spec(["create"], runOptions(), RUN_POSITIONALS), run: createHandler(false) },
    list: listCommand,
    ls: listCommand,
    inspect: {
      spec: spec(["inspect"], [], [{ name: "container-ids", required: true, variadic: true }]),
      run: inspect,
    },
    stop: {
      spec: spec(["stop"], [
        ALL,
        { long: "signal", short: "s", value: "<signal>" },
        { long: "time", short: "t", value: "<time>", integer: true },
      ], [IDS]),
      run: stop,
    },
    start: {
      spec: spec(["start"], [{ long: "attach", short: "a" }, {
        long: "interactive",
        short: "i",
      }], [{ name: "container-id", required: true, variadic: false }]),
      run: start,
    },
    exec: {
      spec: spec(["exec"], [
        { long: "interactive", short: "i" },
        { long: "tty", short: "t" },
      ], [
        { name: "container-id", required: true, variadic: false },
        { name: "arguments", required: true, variadic: true, passthrough: true },
      ]),
      run: exec,
    },
    delete: deleteCommand,
    rm: deleteCommand,
    // Before 0.10.0 there is no `export`: it is looked up as a plugin, and not found.
    ...(before(version, [0, 10, 0]) ? {} : { export: exportCommand(version) }),
    image: {
      load: {
        spec: spec(["image", "load"], [{ long: "input", short: "i", value: "<input>" }]),
        run: imageLoad,
      },
      list: imageListCommand,
      ls: imageListCommand,
      delete: imageDeleteCommand,
      rm: imageDeleteCommand,
      tag: {
        spec: spec(["image", "tag"], [], [
          { name: "source", required: true, variadic: false },
          { name: "target", required: true, variadic: false },
        ]),
        run: imageTag,
      },
      push: {
        spec: spec(["image", "push"], registryOptions(), [
          { name: "reference", required: true, variadic: false },
        ]),
        run: imagePush,
      },
      pull: {
        spec: spec(["image", "pull"], registryOptions(), [
          { name: "reference", required: true, variadic: false },
        ]),
        run: imagePull,
      },
      save: {
        spec: spec(["image", "save"], [{ long: "output", short: "o", value: "<output>" }], [
          { name: "references", required: true, variadic: true },
        ]),
        run: imageSave,
      },
    },
    registry: {
      login: {
        spec: spec(["registry", "login"], [
          { long: "scheme", value: "<scheme>" },
          { long: "password-stdin" },
          { long: "username", short: "u", value: "<username>" },
        ], [{ name: "server", required: true, variadic: false }]),
        run: registryLogin,
      },
    },
    system: {
      start: { spec: spec(["system", "start"]), run: systemStart, noService: true },
      status: { spec: spec(["system", "status"]), run: systemStatus, noService: true },
      version: { spec: spec(["system", "version"]), run: systemVersion },
    },
  };
}

/**
 * An unknown top-level word is looked up as a plugin (`DefaultCommand`), and
 * a missing one is a `ValidationError`: exit 64 with the usage, e.g.
 * `container commit` → `Plugin 'container-commit' not found.` (the plugin
 * directories shown are the double's own).
 */
function pluginNotFound(command: string): UsageError {
  const hints = ["~/.local/libexec/container-plugins", "/usr/local/libexec/container/plugins"]
    .map((dir) => `  - ${dir}/${command}`);
  return new UsageError(
    [
      `Plugin 'container-${command}' not found.`,
      "",
      "- If system services are not running, start them with: container system start",
      "- If the plugin isn't installed, ensure it exists under:",
      "",
      "Check to see that the plugin exists under:",
      ...hints,
      "",
    ].join("\n"),
    groupSpec([]),
  );
}

function isCommand(value: Command | Record<string, Command>): value is Command {
  return "spec" in value && "run" in value;
}

function groupSpec(words: string[]): CommandSpec {
  return { path: [...words, "<subcommand>"], options: [], positionals: [] };
}

/** Finds the command `args` name; returns it with the words that named it. */
function resolveCommand(
  version: Version,
  args: string[],
): { command: Command; words: string[] } {
  const table = commands(version);
  const [first, second] = args;
  if (first === undefined) throw new HelpRequested(groupSpec([]));
  const entry = Object.hasOwn(table, first) ? table[first] : undefined;
  if (!entry) {
    if (first.startsWith("-")) throw new UsageError(`Unknown option '${first}'`, groupSpec([]));
    throw pluginNotFound(first);
  }
  if (isCommand(entry)) return { command: entry, words: [first] };
  if (second === undefined || second === "-h" || second === "--help") {
    throw new HelpRequested(groupSpec([first]));
  }
  const command = Object.hasOwn(entry, second) ? entry[second] : undefined;
  if (!command) {
    const what = second.startsWith("-") ? "option" : "subcommand";
    throw new UsageError(`Unknown ${what} '${second}'`, groupSpec([first]));
  }
  return { command, words: [first, second] };
}

/** The injected failure for this command, if the world has one. */
function injectedFailure(world: ContainerWorld, names: string[][]): string | undefined {
  for (const [key, message] of Object.entries(world.failures ?? {})) {
    const words = key.trim().split(/\s+/);
    if (names.some((name) => words.every((word, i) => name[i] === word))) return message;
  }
  return undefined;
}

/** Runs `args` against `world` (changing it) and returns the exit status. */
async function run(world: ContainerWorld, args: string[]): Promise<number> {
  if (args.length === 1 && args[0] === "--version") {
    await print(versionLine(world));
    return 0;
  }
  try {
    if (args.length === 0 || args[0] === "-h" || args[0] === "--help") {
      throw new HelpRequested(groupSpec([]));
    }
    const version = parseVersion(world.version);
    const { command, words } = resolveCommand(version, args);
    const parsed = parse(command.spec, args.slice(words.length));
    if (!world.serviceRunning && !command.noService) {
      await printError(serviceDownMessage(world));
      return 1;
    }
    const failure = injectedFailure(world, [command.spec.path, words]);
    if (failure !== undefined) {
      await printError(`Error: ${failure}`);
      return 1;
    }
    await command.run({ world, version, parsed });
    return 0;
  } catch (error) {
    if (error instanceof Exit) return error.status;
    if (error instanceof HelpRequested) {
      await print(`USAGE: ${usageLine(error.spec)}`);
      return 0;
    }
    if (error instanceof UsageError) {
      const command = ["container", ...error.spec.path.filter((w) => !w.startsWith("<"))];
      await printError(`Error: ${error.message}`);
      await printError(`Usage: ${usageLine(error.spec)}`);
      await printError(`  See '${command.join(" ")} --help' for more help.`);
      return 64;
    }
    if (error instanceof CliError) {
      await printError(`Error: ${describe(world, error)}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  const path = Deno.env.get("BOT_BOTTLE_DOUBLE_WORLD");
  if (!path) {
    await printError("container double: BOT_BOTTLE_DOUBLE_WORLD is not set");
    Deno.exit(70);
  }
  const world = JSON.parse(await Deno.readTextFile(path)) as ContainerWorld;
  world.calls.push([...Deno.args]);
  // Recorded at once, so a call that is interrupted (exportDelayMs) still shows.
  await writeWorldFile(path, world);
  let status = 1;
  try {
    status = await run(world, Deno.args);
  } finally {
    await writeWorldFile(path, world);
  }
  Deno.exit(status);
}
