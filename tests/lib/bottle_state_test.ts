import { deepStrictEqual, equal, match, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/atomic_write.ts";
import {
  BottleState,
  COMMITTED_IMAGE_FILE,
  listStateSlugs,
  METADATA_FILE,
  PRESERVE_FILE,
  stateRoot,
} from "../../lib/bottle_state.ts";
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

Deno.test("readMetadata() reports an unreadable metadata.json as bad input", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG);
  await Deno.remove(join(dir, METADATA_FILE));
  await Deno.mkdir(join(dir, METADATA_FILE));
  await rejects(new BottleState(SLUG, home.root).readMetadata(), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    match(error.message, new RegExp(`^cannot read ${join(dir, METADATA_FILE)}: `));
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

Deno.test("writeMetadata() keeps the permissions of the launcher's file", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle("dev-abc12");
  await Deno.chmod(join(dir, "metadata.json"), 0o644);
  const state = new BottleState("dev-abc12", home.root);
  await state.writeMetadata(await state.readMetadata());
  equal((await Deno.stat(join(dir, "metadata.json"))).mode! & 0o777, 0o644);
});

Deno.test("stateRoot() makes a relative BOT_BOTTLE_HOME absolute", () => {
  const env = { get: (name: string) => (name === "BOT_BOTTLE_HOME" ? "rel/state" : undefined) };
  equal(stateRoot(env), join(Deno.cwd(), "rel/state"));
});
