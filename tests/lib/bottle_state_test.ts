import { deepStrictEqual, equal, match, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  readFileNoFollow,
  writeFileAtomic,
  writeFilesTogether,
} from "../../lib/state/atomic_write.ts";
import {
  BottleState,
  COMMITTED_IMAGE_FILE,
  listStateSlugs,
  MAX_JSON_DEPTH,
  METADATA_FILE,
  PRESERVE_FILE,
  stateRoot,
} from "../../lib/state/bottle_state.ts";
import { BadInputError } from "../../lib/errors.ts";
import { launcherMetadata, snapshotTree, tempHome } from "../_helpers/temp_home.ts";

const SLUG = "dev-abc12";

function fakeEnv(vars: Record<string, string>): Pick<Deno.Env, "get"> {
  return { get: (name: string) => vars[name] };
}

async function tempFilesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (/^\..*\.tmp-/.test(entry.name)) names.push(entry.name);
  }
  return names;
}

// Metadata

Deno.test("readMetadata() reads the launcher's full metadata.json as written", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG);
  const metadata = await new BottleState(SLUG, home.root).readMetadata();
  deepStrictEqual(metadata, launcherMetadata(SLUG));
});

Deno.test('readMetadata() keeps backend "" from state written by older launchers', async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "" }));
  const metadata = await new BottleState(SLUG, home.root).readMetadata();
  equal(metadata.backend, "");
  equal(metadata.identity, SLUG);
});

Deno.test("readMetadata() accepts metadata.json without the backend field", async () => {
  await using home = await tempHome();
  const { backend: _, ...legacy } = launcherMetadata(SLUG);
  await home.writeBottle(SLUG, legacy);
  const metadata = await new BottleState(SLUG, home.root).readMetadata();
  equal(Object.hasOwn(metadata, "backend"), false);
  deepStrictEqual(metadata, legacy);
});

Deno.test("readMetadata() accepts null for every known field", async () => {
  await using home = await tempHome();
  const nulls = Object.fromEntries(Object.keys(launcherMetadata(SLUG)).map((key) => [key, null]));
  await home.writeBottle(SLUG, nulls);
  const metadata = await new BottleState(SLUG, home.root).readMetadata();
  deepStrictEqual(metadata, nulls);
});

Deno.test("readMetadata() accepts an empty object", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, {});
  deepStrictEqual(await new BottleState(SLUG, home.root).readMetadata(), {});
});

Deno.test("readMetadata() keeps unknown fields through a rewrite", async () => {
  await using home = await tempHome();
  const original = launcherMetadata(SLUG, {
    future_field: "kept",
    nested: { a: [1, 2, { b: null }], c: true },
    ports: [8080],
    label: null,
  });
  await home.writeBottle(SLUG, original);
  const state = new BottleState(SLUG, home.root);
  const metadata = await state.readMetadata();
  deepStrictEqual(metadata, original);
  await state.writeMetadata(metadata);
  const onDisk = JSON.parse(await Deno.readTextFile(state.path(METADATA_FILE)));
  deepStrictEqual(onDisk, original);
  deepStrictEqual(await state.readMetadata(), original);
  deepStrictEqual(await tempFilesIn(state.dir), []);
});

Deno.test("writeMetadata() writes pretty JSON ending in a newline", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG);
  const state = new BottleState(SLUG, home.root);
  await state.writeMetadata({ identity: SLUG, extra: 1 });
  equal(
    await Deno.readTextFile(state.path(METADATA_FILE)),
    `{\n  "identity": "${SLUG}",\n  "extra": 1\n}\n`,
  );
});

const BAD_METADATA: [string, string, RegExp][] = [
  ["corrupt JSON", "{ not json", /is not valid JSON/],
  ["a truncated object", '{"identity": "dev-abc12"', /is not valid JSON/],
  ["an empty file", "", /is not valid JSON/],
  ["a JSON array", "[]", /must hold a JSON object/],
  ["null", "null", /must hold a JSON object/],
  ["a string", '"dev-abc12"', /must hold a JSON object/],
  ["a number", "5", /must hold a JSON object/],
  ["backend: 5", '{"backend": 5}', /fields of the wrong type \(backend: /],
  ['copy_cwd: "yes"', '{"copy_cwd": "yes"}', /fields of the wrong type \(copy_cwd: /],
  ["bottle_names: [1]", '{"bottle_names": [1]}', /fields of the wrong type \(bottle_names\.0: /],
];

for (const [what, raw, reason] of BAD_METADATA) {
  Deno.test(`readMetadata() rejects ${what} naming the file and changing nothing`, async () => {
    await using home = await tempHome();
    await home.writeBottle(SLUG, undefined, raw);
    await Deno.writeTextFile(join(home.stateDir(SLUG), "Dockerfile"), "FROM scratch\n");
    const before = await snapshotTree(home.home);
    const state = new BottleState(SLUG, home.root);
    await rejects(state.readMetadata(), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(error.message.startsWith(state.path(METADATA_FILE)), true, error.message);
      match(error.message, reason);
      match(error.message, /fix or restore the file$/);
      return true;
    });
    deepStrictEqual(await snapshotTree(home.home), before);
  });
}

Deno.test("readMetadata() tells a missing state directory from one without metadata.json", async () => {
  await using home = await tempHome();
  const missing = new BottleState(SLUG, home.root);
  await rejects(missing.readMetadata(), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(
      error.message,
      `bottle "${SLUG}" has no state at ${home.stateDir(SLUG)}; check the slug: ` +
        `"bot-bottle ls" lists the known bottles`,
    );
    return true;
  });

  await Deno.mkdir(home.stateDir(SLUG), { recursive: true });
  await rejects(missing.readMetadata(), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(
      error.message,
      `bottle "${SLUG}" has no metadata.json in ${home.stateDir(SLUG)}; it was not started by ` +
        `bot-bottle, or its start did not finish`,
    );
    return true;
  });
  deepStrictEqual(await snapshotTree(home.home), {
    ".bot-bottle/": "",
    ".bot-bottle/state/": "",
    [`.bot-bottle/state/${SLUG}/`]: "",
  });
});

Deno.test("readMetadata() reports a metadata.json that is a directory as bad input", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  await Deno.remove(join(dir, METADATA_FILE));
  await Deno.mkdir(join(dir, METADATA_FILE));
  await rejects(new BottleState(SLUG, home.root).readMetadata(), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(
      error.message,
      `${join(dir, METADATA_FILE)} is not a regular file (it is a directory); ` +
        `fix or restore the file`,
    );
    return true;
  });
});

// The bottle's identity

Deno.test("BottleState places the state directory at <root>/state/<slug>", async () => {
  await using home = await tempHome();
  const state = new BottleState(SLUG, home.root);
  equal(state.slug, SLUG);
  equal(state.root, home.root);
  equal(state.dir, home.stateDir(SLUG));
  equal(state.path(COMMITTED_IMAGE_FILE), join(home.stateDir(SLUG), "committed-image"));
});

Deno.test("BottleState rejects a slug that would leave the state directory", async () => {
  await using home = await tempHome();
  for (const slug of ["../x", "..", "a/b", "", "Dev"]) {
    throws(() => new BottleState(slug, home.root), BadInputError);
  }
  deepStrictEqual(await snapshotTree(home.home), {});
});

// committed-image

Deno.test("readCommittedImage() strips the trailing newline", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  const state = new BottleState(SLUG, home.root);
  await Deno.writeTextFile(
    join(dir, COMMITTED_IMAGE_FILE),
    "bot-bottle-committed-dev-abc12:latest\n",
  );
  equal(await state.readCommittedImage(), "bot-bottle-committed-dev-abc12:latest");
  await Deno.writeTextFile(join(dir, COMMITTED_IMAGE_FILE), "/abs/path.smolmachine\r\n");
  equal(await state.readCommittedImage(), "/abs/path.smolmachine");
  await Deno.writeTextFile(join(dir, COMMITTED_IMAGE_FILE), "no-newline:latest");
  equal(await state.readCommittedImage(), "no-newline:latest");
});

Deno.test("readCommittedImage() returns undefined when there is no snapshot", async () => {
  await using home = await tempHome();
  const state = new BottleState(SLUG, home.root);
  equal(await state.readCommittedImage(), undefined);
  const dir = await home.writeBottle(SLUG);
  equal(await state.readCommittedImage(), undefined);
  await Deno.writeTextFile(join(dir, COMMITTED_IMAGE_FILE), "\n");
  equal(await state.readCommittedImage(), undefined);
});

Deno.test("writeCommittedImage() writes exactly the reference and a newline, mode 0600", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  const state = new BottleState(SLUG, home.root);
  await state.writeCommittedImage("bot-bottle-committed-dev-abc12:latest");
  const file = join(dir, COMMITTED_IMAGE_FILE);
  equal(await Deno.readTextFile(file), "bot-bottle-committed-dev-abc12:latest\n");
  equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  equal(await state.readCommittedImage(), "bot-bottle-committed-dev-abc12:latest");
  deepStrictEqual(await tempFilesIn(dir), []);
});

Deno.test("writeCommittedImage() replaces an earlier reference", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  const state = new BottleState(SLUG, home.root);
  await state.writeCommittedImage("old:latest");
  await state.writeCommittedImage("/home/u/.bot-bottle/state/dev-abc12/new.smolmachine");
  equal(
    await Deno.readTextFile(join(dir, COMMITTED_IMAGE_FILE)),
    "/home/u/.bot-bottle/state/dev-abc12/new.smolmachine\n",
  );
  deepStrictEqual(await tempFilesIn(dir), []);
});

Deno.test("writeCommittedImage() refuses an empty or multi-line reference and writes nothing", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG);
  const state = new BottleState(SLUG, home.root);
  const before = await snapshotTree(home.home);
  for (const reference of ["", "a\nb", "a\n", "a\rb"]) {
    await rejects(state.writeCommittedImage(reference), TypeError);
  }
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("writeCommittedImage() into a missing state directory throws and creates nothing", async () => {
  await using home = await tempHome();
  const state = new BottleState(SLUG, home.root);
  await rejects(state.writeCommittedImage("x:latest"), Deno.errors.NotFound);
  deepStrictEqual(await snapshotTree(home.home), {});
});

// .preserve

Deno.test("markPreserved() creates an empty .preserve marker that isPreserved() sees", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  const state = new BottleState(SLUG, home.root);
  equal(await state.isPreserved(), false);
  await state.markPreserved();
  equal(await state.isPreserved(), true);
  const info = await Deno.stat(join(dir, PRESERVE_FILE));
  equal(info.isFile, true);
  equal(info.size, 0);
  deepStrictEqual(await tempFilesIn(dir), []);
});

Deno.test("markPreserved() keeps an existing marker as it is", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  await Deno.writeTextFile(join(dir, PRESERVE_FILE), "written by the launcher\n");
  const state = new BottleState(SLUG, home.root);
  equal(await state.isPreserved(), true);
  await state.markPreserved();
  equal(await Deno.readTextFile(join(dir, PRESERVE_FILE)), "written by the launcher\n");
});

Deno.test("isPreserved() is false for a bottle without a state directory", async () => {
  await using home = await tempHome();
  equal(await new BottleState(SLUG, home.root).isPreserved(), false);
});

// Atomic writes

Deno.test("writeFileAtomic() replaces a file and leaves no temporary file", async () => {
  await using home = await tempHome();
  const file = join(home.home, "target");
  await Deno.writeTextFile(file, "old content that is longer than the new one");
  await writeFileAtomic(file, "new");
  equal(await Deno.readTextFile(file), "new");
  await writeFileAtomic(file, new Uint8Array([104, 105]), 0o640);
  equal(await Deno.readTextFile(file), "hi");
  equal((await Deno.stat(file)).mode! & 0o777, 0o640);
  deepStrictEqual(await snapshotTree(home.home), { target: "hi" });
});

Deno.test("writeFileAtomic() into a missing directory throws NotFound and leaves nothing", async () => {
  await using home = await tempHome();
  await rejects(writeFileAtomic(join(home.home, "missing", "file"), "x"), Deno.errors.NotFound);
  deepStrictEqual(await snapshotTree(home.home), {});
});

Deno.test("writeFileAtomic() removes its temporary file when the rename fails", async () => {
  await using home = await tempHome();
  const target = join(home.home, "target");
  await Deno.mkdir(target);
  await Deno.writeTextFile(join(target, "inside"), "kept");
  await rejects(writeFileAtomic(target, "x"));
  deepStrictEqual(await snapshotTree(home.home), { "target/": "", "target/inside": "kept" });
});

// The state root

Deno.test("stateRoot() prefers BOT_BOTTLE_HOME over HOME", () => {
  equal(stateRoot(fakeEnv({ BOT_BOTTLE_HOME: "/srv/bb", HOME: "/home/u" })), "/srv/bb");
});

Deno.test("stateRoot() falls back to $HOME/.bot-bottle", () => {
  equal(stateRoot(fakeEnv({ HOME: "/home/u" })), "/home/u/.bot-bottle");
  equal(stateRoot(fakeEnv({ BOT_BOTTLE_HOME: "", HOME: "/home/u" })), "/home/u/.bot-bottle");
});

Deno.test("stateRoot() throws BadInputError when neither HOME nor BOT_BOTTLE_HOME is set", () => {
  const envs: Record<string, string>[] = [{}, { HOME: "" }, { BOT_BOTTLE_HOME: "", HOME: "" }];
  for (const env of envs) {
    throws(() => stateRoot(fakeEnv(env)), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      match(error.message, /HOME is not set; set HOME or BOT_BOTTLE_HOME/);
      return true;
    });
  }
});

Deno.test("stateRoot() reads the process environment by default", () => {
  const saved = Deno.env.get("BOT_BOTTLE_HOME");
  try {
    Deno.env.set("BOT_BOTTLE_HOME", "/from/the/process");
    equal(stateRoot(), "/from/the/process");
  } finally {
    if (saved === undefined) Deno.env.delete("BOT_BOTTLE_HOME");
    else Deno.env.set("BOT_BOTTLE_HOME", saved);
  }
  equal(Deno.env.get("BOT_BOTTLE_HOME"), saved);
});

// Listing

Deno.test("listStateSlugs() lists slug directories sorted, skipping other names and files", async () => {
  await using home = await tempHome();
  for (const slug of ["zeta-1", "dev-abc12", "a"]) await home.writeBottle(slug);
  for (const name of ["Upper", "has space", "a_b", "-lead", ".hidden"]) {
    await Deno.mkdir(home.stateDir(name), { recursive: true });
  }
  await Deno.writeTextFile(home.stateDir("plainfile"), "not a directory");
  deepStrictEqual(await listStateSlugs(home.root), ["a", "dev-abc12", "zeta-1"]);
});

Deno.test("listStateSlugs() returns nothing when there is no state directory", async () => {
  await using home = await tempHome();
  deepStrictEqual(await listStateSlugs(home.root), []);
});

Deno.test("writeMetadata() makes the launcher's 0644 metadata.json 0600", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle("dev-abc12");
  await Deno.chmod(join(dir, "metadata.json"), 0o644);
  const state = new BottleState("dev-abc12", home.root);
  await state.writeMetadata(await state.readMetadata());
  equal((await Deno.stat(join(dir, "metadata.json"))).mode! & 0o777, 0o600);
  deepStrictEqual(await state.readMetadata(), launcherMetadata("dev-abc12"));
});

Deno.test("stateRoot() makes a relative BOT_BOTTLE_HOME absolute", () => {
  const env = { get: (name: string) => (name === "BOT_BOTTLE_HOME" ? "rel/state" : undefined) };
  equal(stateRoot(env), join(Deno.cwd(), "rel/state"));
});

// Hostile state: links, special files, huge and deeply nested files

/** Asserts that `promise` rejects with a BadInputError whose message matches `expected`. */
async function rejectsBadInput(promise: Promise<unknown>, expected: RegExp): Promise<void> {
  await rejects(promise, (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    match(error.message, expected);
    return true;
  });
}

const HISTORY = {
  version: 1,
  snapshots: [{
    id: "20261124T141500Z",
    createdAt: "2026-11-24T14:15:00.000Z",
    backend: "docker",
    artifact: `bot-bottle-committed-${SLUG}:20261124T141500Z`,
    sizeBytes: null,
    parent: null,
    toolVersion: "0.1.0",
    message: null,
  }],
  resumedFrom: null,
};

/** Every operation of BottleState that reads or writes the state, by name. */
function everyOperation(state: BottleState): [string, () => Promise<unknown>][] {
  return [
    ["readMetadata", () => state.readMetadata()],
    ["readCommittedImage", () => state.readCommittedImage()],
    ["readHistory", () => state.readHistory("docker")],
    ["readRunConfig", () => state.readRunConfig()],
    ["isPreserved", () => state.isPreserved()],
    ["readText", () => state.readText("passwd")],
    ["writeMetadata", () => state.writeMetadata({ identity: SLUG })],
    ["writeCommittedImage", () => state.writeCommittedImage("x:latest")],
    ["writeHistory", () => state.writeHistory(structuredClone(HISTORY) as never)],
    ["markPreserved", () => state.markPreserved()],
    ["clearPreserved", () => state.clearPreserved()],
    [
      "recordCommit",
      () =>
        state.recordCommit({
          history: structuredClone(HISTORY) as never,
          committedImage: "x:latest",
          metadata: { identity: SLUG },
        }),
    ],
  ];
}

Deno.test("a state directory that is a symbolic link to another bottle is refused by every read and write", async () => {
  await using home = await tempHome();
  const other = await home.writeBottle("other-1");
  await Deno.writeTextFile(join(other, COMMITTED_IMAGE_FILE), "bot-bottle-committed-other-1:x\n");
  await Deno.writeTextFile(join(other, PRESERVE_FILE), "");
  await Deno.symlink(other, home.stateDir(SLUG));
  const before = await snapshotTree(home.home);
  const state = new BottleState(SLUG, home.root);
  for (const [name, operation] of everyOperation(state)) {
    await rejects(operation(), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `the state directory of bottle "${SLUG}", ${home.stateDir(SLUG)}, is a symbolic link ` +
          `to ${other}, and bot-bottle does not follow it; replace the link with the bottle's ` +
          `own directory, or remove the link`,
        name,
      );
      return true;
    });
  }
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("a state directory that is a symbolic link to /etc is refused, and nothing under /etc is read", async () => {
  await using home = await tempHome();
  await Deno.mkdir(join(home.root, "state"), { recursive: true });
  await Deno.symlink("/etc", home.stateDir(SLUG));
  const state = new BottleState(SLUG, home.root);
  for (const [name, operation] of everyOperation(state)) {
    await rejectsBadInput(
      operation(),
      / is a symbolic link to \/etc, and bot-bottle does not follow it;/,
    )
      .catch((error) => {
        throw new Error(`${name}: ${error.message}`);
      });
  }
  // listStateSlugs() lists it (so ls can report it), and never walks into it.
  deepStrictEqual(await listStateSlugs(home.root), [SLUG]);
});

Deno.test("a state directory that is a plain file is refused as not a directory", async () => {
  await using home = await tempHome();
  await Deno.mkdir(join(home.root, "state"), { recursive: true });
  await Deno.writeTextFile(home.stateDir(SLUG), "{}");
  await rejectsBadInput(
    new BottleState(SLUG, home.root).readMetadata(),
    /^the state directory of bottle "dev-abc12", .* is not a directory; remove it, or restore the bottle's state$/,
  );
});

/** The state files a symbolic link may replace, and the read that meets it. */
const LINKED_FILES: [string, string, (state: BottleState) => Promise<unknown>][] = [
  [METADATA_FILE, "readMetadata", (state) => state.readMetadata()],
  [COMMITTED_IMAGE_FILE, "readCommittedImage", (state) => state.readCommittedImage()],
  [COMMITTED_IMAGE_FILE, "readHistory", (state) => state.readHistory("docker")],
  ["snapshots.json", "readHistory", (state) => state.readHistory("docker")],
  ["run-config.json", "readRunConfig", (state) => state.readRunConfig()],
  [PRESERVE_FILE, "isPreserved", (state) => state.isPreserved()],
];

for (const [file, reader, read] of LINKED_FILES) {
  Deno.test(`a ${file} that is a symbolic link is refused by ${reader}() and by a commit, and its target is untouched`, async () => {
    await using home = await tempHome();
    const dir = await home.writeBottle(SLUG);
    const target = join(home.home, "secret");
    await Deno.writeTextFile(target, "the target's own content\n");
    await Deno.remove(join(dir, file)).catch(() => {});
    await Deno.symlink(target, join(dir, file));
    const before = await snapshotTree(home.home);
    const state = new BottleState(SLUG, home.root);
    const expected = new RegExp(
      `^${escape(join(dir, file))} is a symbolic link to ${escape(target)}, and bot-bottle ` +
        `does not follow links in a state directory; replace the link with the file itself, ` +
        `or restore the file$`,
    );
    await rejectsBadInput(read(state), expected);
    // A commit replaces these files: it refuses the link before writing anything.
    await rejectsBadInput(
      state.recordCommit({
        history: structuredClone(HISTORY) as never,
        runConfig: {
          env: [],
          volumes: [],
          labels: [],
          tty: false,
          interactive: false,
        },
        committedImage: "x:latest",
        metadata: launcherMetadata(SLUG),
      }),
      expected,
    );
    deepStrictEqual(await snapshotTree(home.home), before);
    equal(await Deno.readTextFile(target), "the target's own content\n");
  });
}

Deno.test("a metadata.json that is a named pipe is refused at once, not read (which would block)", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  await Deno.remove(join(dir, METADATA_FILE));
  const made = await new Deno.Command("mkfifo", { args: [join(dir, METADATA_FILE)] }).output();
  equal(made.success, true);
  await rejectsBadInput(
    new BottleState(SLUG, home.root).readMetadata(),
    /metadata\.json is not a regular file \(it is a device, socket or pipe\); fix or restore the file$/,
  );
});

Deno.test("a 10 GB metadata.json is refused quickly, by its size, without reading it", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  // Sparse: takes no disk space, but reading it whole would take 10 GB of memory.
  await Deno.truncate(join(dir, METADATA_FILE), 10 * 1024 ** 3);
  const started = performance.now();
  await rejectsBadInput(
    new BottleState(SLUG, home.root).readMetadata(),
    new RegExp(
      `^${escape(join(dir, METADATA_FILE))} is larger than 1 MiB, too large for a state file; ` +
        `fix or restore the file$`,
    ),
  );
  equal(performance.now() - started < 1000, true, "took a second or more");
});

Deno.test("readFileNoFollow() stops at the limit when a file reports no size (/proc)", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  // /proc files are regular files of size 0 whose content is made as they are read.
  equal((await Deno.lstat("/proc/self/status")).size, 0);
  await rejectsBadInput(
    readFileNoFollow("/proc/self/status", 16),
    /^\/proc\/self\/status is larger than 16 bytes, too large for a state file;/,
  );
  equal(
    new TextDecoder().decode((await readFileNoFollow("/proc/self/status"))!.data).length > 16,
    true,
  );
});

function nestedArrays(depth: number): string {
  return "[".repeat(depth) + "]".repeat(depth);
}

function nestedObjects(depth: number): string {
  return '{"a":'.repeat(depth) + "{}" + "}".repeat(depth);
}

const DEEP_METADATA: [string, string][] = [
  ["100000 nested arrays", nestedArrays(100_000)],
  ["100000 nested objects", nestedObjects(100_000)],
  ["an object holding 65 levels", `{"deep": ${nestedArrays(64)}}`],
  ["nesting that never closes", "[".repeat(500_000)],
];

for (const [what, raw] of DEEP_METADATA) {
  Deno.test(`readMetadata() refuses ${what} quickly, naming the file`, async () => {
    await using home = await tempHome();
    await home.writeBottle(SLUG, undefined, raw);
    const state = new BottleState(SLUG, home.root);
    const started = performance.now();
    await rejects(state.readMetadata(), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `${state.path(METADATA_FILE)} nests arrays or objects more than ${MAX_JSON_DEPTH} ` +
          `levels deep; fix or restore the file`,
      );
      return true;
    });
    equal(performance.now() - started < 1000, true, "took a second or more");
  });
}

Deno.test("readMetadata() accepts 64 levels of nesting and brackets inside strings, and rewrites them", async () => {
  await using home = await tempHome();
  const deep = JSON.parse(nestedArrays(63));
  const original = launcherMetadata(SLUG, { deep, note: "[[[[{{{{".repeat(1000) + '\\"[' });
  await home.writeBottle(SLUG, original);
  const state = new BottleState(SLUG, home.root);
  deepStrictEqual(await state.readMetadata(), original);
  await state.writeMetadata(await state.readMetadata());
  deepStrictEqual(await state.readMetadata(), original);
});

Deno.test("readMetadata() refuses a metadata.json that is not UTF-8", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  await Deno.writeFile(join(dir, METADATA_FILE), new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]));
  await rejectsBadInput(
    new BottleState(SLUG, home.root).readMetadata(),
    /metadata\.json is not UTF-8 text; fix or restore the file$/,
  );
});

Deno.test("readMetadata() quotes at most three problems, each cut short", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, {
    identity: 1,
    cwd: 2,
    label: 3,
    color: 4,
    copy_cwd: "y".repeat(100_000),
  });
  await rejects(new BottleState(SLUG, home.root).readMetadata(), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(error.message.length < 1000, true, `${error.message.length} characters`);
    equal(error.message.split("; ").length, 4, error.message);
    match(error.message, /fix or restore the file$/);
    return true;
  });
});

Deno.test('readMetadata() keeps fields named "__proto__", "constructor" and "prototype" as plain fields', async () => {
  await using home = await tempHome();
  const raw = `{"identity": "${SLUG}", "__proto__": {"polluted": true}, "constructor": 1, ` +
    `"prototype": [2]}`;
  await home.writeBottle(SLUG, undefined, raw);
  const state = new BottleState(SLUG, home.root);
  const metadata = await state.readMetadata();
  equal(Object.getPrototypeOf(metadata), Object.prototype);
  equal((metadata as Record<string, unknown>).polluted, undefined);
  deepStrictEqual(Object.keys(metadata).sort(), [
    "__proto__",
    "constructor",
    "identity",
    "prototype",
  ]);
  await state.writeMetadata(metadata);
  deepStrictEqual(
    JSON.parse(await Deno.readTextFile(state.path(METADATA_FILE))),
    JSON.parse(raw),
  );
});

// Modes

Deno.test("recordCommit() into a new state directory writes every file 0600", async () => {
  await using home = await tempHome();
  const state = new BottleState(SLUG, home.root);
  await Deno.mkdir(state.dir, { recursive: true, mode: 0o700 });
  await state.recordCommit({
    history: structuredClone(HISTORY) as never,
    runConfig: { env: ["TOKEN=secret"], volumes: [], labels: [], tty: false, interactive: false },
    committedImage: "x:latest",
    metadata: launcherMetadata(SLUG),
  });
  const modes: Record<string, number> = {};
  for await (const entry of Deno.readDir(state.dir)) {
    modes[entry.name] = (await Deno.lstat(join(state.dir, entry.name))).mode! & 0o777;
  }
  deepStrictEqual(modes, {
    [METADATA_FILE]: 0o600,
    "snapshots.json": 0o600,
    "run-config.json": 0o600,
    [COMMITTED_IMAGE_FILE]: 0o600,
    [PRESERVE_FILE]: 0o600,
  });
});

// Atomic writes and links

Deno.test("writeFileAtomic() replaces a symbolic link itself, leaving its target as it was", async () => {
  await using home = await tempHome();
  const target = join(home.home, "target");
  const link = join(home.home, "link");
  await Deno.writeTextFile(target, "kept", { mode: 0o644 });
  await Deno.symlink(target, link);
  await writeFileAtomic(link, "new");
  deepStrictEqual(await snapshotTree(home.home), { target: "kept", link: "new" });
  equal((await Deno.lstat(link)).mode! & 0o777, 0o600);
  equal((await Deno.stat(target)).mode! & 0o777, 0o644);
});

Deno.test("writeFilesTogether() refuses a symbolic link among its files before writing any", async () => {
  await using home = await tempHome();
  const target = join(home.home, "target");
  await Deno.writeTextFile(target, "kept");
  await Deno.writeTextFile(join(home.home, "a"), "old a");
  await Deno.symlink(target, join(home.home, "b"));
  const before = await snapshotTree(home.home);
  await rejectsBadInput(
    writeFilesTogether([
      { path: join(home.home, "a"), content: "new a" },
      { path: join(home.home, "b"), content: "new b" },
    ]),
    /\/b is a symbolic link to .*\/target, and bot-bottle does not follow links/,
  );
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("writeFilesTogether() leaves a file that holds the content already, mode 0600, as it is", async () => {
  await using home = await tempHome();
  const [same, changed, wide] = ["same", "changed", "wide"].map((name) => join(home.home, name));
  await writeFileAtomic(same!, "kept\n");
  await writeFileAtomic(changed!, "old\n");
  await Deno.writeTextFile(wide!, "kept\n", { mode: 0o644 });
  const inode = async (path: string) => (await Deno.lstat(path)).ino;
  const before = {
    same: await inode(same!),
    changed: await inode(changed!),
    wide: await inode(wide!),
  };
  await writeFilesTogether([
    { path: same!, content: "kept\n" },
    { path: changed!, content: "new\n" },
    { path: wide!, content: "kept\n" },
  ]);
  deepStrictEqual(await snapshotTree(home.home), {
    same: "kept\n",
    changed: "new\n",
    wide: "kept\n",
  });
  // Not replaced: the same file, not a new one renamed over it.
  equal(await inode(same!), before.same);
  // Replaced: new content, or the same content with too wide a mode (made 0600).
  equal((await inode(changed!)) === before.changed, false);
  equal((await inode(wide!)) === before.wide, false);
  equal((await Deno.lstat(wide!)).mode! & 0o777, 0o600);
});

Deno.test("writeFilesTogether() puts back what it wrote when a later write fails, past an unchanged file", async () => {
  await using home = await tempHome();
  await writeFileAtomic(join(home.home, "a"), "old a");
  await writeFileAtomic(join(home.home, "b"), "same b");
  await Deno.mkdir(join(home.home, "gone"));
  const before = await snapshotTree(home.home);
  await Deno.remove(join(home.home, "gone"));
  // The third file's directory does not exist: its write fails after the first one's.
  await rejects(
    writeFilesTogether([
      { path: join(home.home, "a"), content: "new a" },
      { path: join(home.home, "b"), content: "same b" },
      { path: join(home.home, "gone", "c"), content: "c" },
    ]),
    Deno.errors.NotFound,
  );
  await Deno.mkdir(join(home.home, "gone"));
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("listStateSlugs() lists a symbolic link named like a slug, and skips other links' names", async () => {
  await using home = await tempHome();
  await home.writeBottle("real-1");
  await Deno.symlink(home.stateDir("real-1"), home.stateDir("link-1"));
  await Deno.symlink("/etc", home.stateDir("Not_A_Slug"));
  deepStrictEqual(await listStateSlugs(home.root), ["link-1", "real-1"]);
});

Deno.test("readText() reads a state file as text, and only a plain file name", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  await Deno.writeTextFile(join(dir, "run-config.json"), "héllo\n");
  const state = new BottleState(SLUG, home.root);
  equal(await state.readText("run-config.json"), "héllo\n");
  equal(await state.readText("missing.json"), undefined);
  equal(await new BottleState("other-1", home.root).readText(METADATA_FILE), undefined);
  for (const name of ["../other-1/metadata.json", "..", ".", "", "transcript/log"]) {
    await rejects(state.readText(name), TypeError, name);
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("readHistory() quotes a huge wrong value cut short, naming the file", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle("hist-1", launcherMetadata("hist-1"));
  const huge = "x".repeat(100_000);
  await Deno.writeTextFile(
    join(dir, "snapshots.json"),
    JSON.stringify({ version: huge, resumedFrom: null, snapshots: huge }),
  );
  await rejects(
    new BottleState("hist-1", home.root).readHistory("docker"),
    (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      match(
        error.message,
        /snapshots\.json is not a valid snapshot history \(.*\); fix or restore/,
      );
      equal(error.message.length < 1000, true, `${error.message.length} characters`);
      return true;
    },
  );
});
