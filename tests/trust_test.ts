// Trust nothing a file says: a crafted .bottle cannot retag a local image or
// give itself the host, and no state file makes bot-bottle remove anything
// but the bottle's own. Real Docker, the CLI as a subprocess; the Apple
// `container` and smolvm doubles where Docker cannot show it.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { writeOciImageArchive } from "../lib/archive/oci_image_layout.ts";
import { bottleOnDoubles, installDoubles } from "./_doubles/harness.ts";
import { defaultSmolvmWorld, fakeMachine } from "./_doubles/smolvm_world.ts";
import { defaultContainerWorld } from "./_doubles/container_world.ts";
import { runCli } from "./_helpers/cli.ts";
import {
  CRAFTED_ID,
  craftedBottle,
  imageId,
  pwnedImage,
  runConfig,
  savedArtifact,
  sleeperImage,
} from "./_helpers/crafted.ts";
import {
  bottleWithState,
  docker,
  dockerTest,
  removeBottleObjects,
  TEST_IMAGE,
  testSlug,
} from "./_helpers/docker.ts";
import { dockerFailure } from "./_helpers/faults.ts";
import { hasTerminal, runOnTerminal } from "./_helpers/terminal.ts";
import { snapshotTree, tempHome } from "./_helpers/temp_home.ts";
import { present } from "./_helpers/present.ts";

/** A scratch directory and the images a test made, all removed afterwards. */
async function scratch() {
  const dir = await Deno.makeTempDir({ prefix: "bot-bottle-trust-" });
  const images: string[] = [];
  const slugs: string[] = [];
  return {
    dir,
    /** A victim: a tag of the user's own, on the test image. */
    async victim(): Promise<{ name: string; id: string }> {
      const name = `victim-base-${crypto.randomUUID().slice(0, 8)}:latest`;
      await docker("tag", TEST_IMAGE, name);
      images.push(name);
      return { name, id: (await imageId(name))! };
    },
    image(name: string) {
      images.push(name);
      return name;
    },
    slug(prefix: string) {
      const slug = testSlug(prefix);
      slugs.push(slug);
      return slug;
    },
    async [Symbol.asyncDispose]() {
      for (const slug of slugs) await removeBottleObjects(slug);
      for (const image of images) await docker("image", "rm", image).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A good artifact of bottle `slug`: its own image, sleeping, saved and gone from the engine. */
async function ownArtifact(dir: string, slug: string): Promise<string> {
  const own = `bot-bottle-committed-${slug}:${CRAFTED_ID}`;
  await sleeperImage(own);
  const artifact = await savedArtifact(join(dir, slug), own);
  await docker("image", "rm", own);
  return artifact;
}

dockerTest(
  "import refuses a file whose RepoTags retag another image; the victim tag and its image stay",
  async () => {
    await using home = await tempHome();
    await using s = await scratch();
    const victim = await s.victim();
    const evil = `evil-img-${crypto.randomUUID().slice(0, 8)}:1`;
    await pwnedImage(evil);
    const artifact = await savedArtifact(s.dir, evil, (manifest) => {
      present(manifest[0]).RepoTags = [evil, victim.name];
      return manifest;
    });
    await docker("image", "rm", evil);
    const slug = s.slug("evil");
    const file = await craftedBottle(join(s.dir, "evil.bottle"), { slug, artifactPath: artifact });

    const run = await runCli(["import", file], home.env);
    equal(run.code, 1, run.stderr);
    equal(
      run.stderr,
      `bot-bottle: error: ${file} is refused: its artifact would name the images "${evil}", ` +
        `"${victim.name}", and an import may name only the snapshot's own image ` +
        `"bot-bottle-committed-${slug}:${CRAFTED_ID}"; nothing was loaded: ask for a file that ` +
        `"bot-bottle export" wrote\n`,
    );
    equal(await imageId(victim.name), victim.id);
    equal(await imageId(evil), undefined);
    deepStrictEqual(await snapshotTree(home.root), {});
  },
);

dockerTest(
  "an import that fails after loading puts every name back, and a good one leaves other images alone",
  async () => {
    await using home = await tempHome();
    await using s = await scratch();
    const victim = await s.victim();
    const slug = s.slug("good");
    const file = await craftedBottle(join(s.dir, "good.bottle"), {
      slug,
      artifactPath: await ownArtifact(s.dir, slug),
    });
    {
      await using failing = await dockerFailure(["tag"]);
      const run = await runCli(["import", file], { ...home.env, ...failing.env });
      equal(run.code, 1, run.stderr);
      ok(await failing.reached());
      match(run.stderr, /injected failure/);
      equal(await docker("images", "-q", `bot-bottle-committed-${slug}`), "");
      equal(await Deno.lstat(home.stateDir(slug)).then(() => true, () => false), false);
      equal(await imageId(victim.name), victim.id);
    }
    const run = await runCli(["import", file], home.env);
    equal(run.code, 0, run.stderr);
    ok(await imageId(`bot-bottle-committed-${slug}:latest`));
    equal(await imageId(victim.name), victim.id);
  },
);

dockerTest("import refuses an artifact holding two images, loading neither", async () => {
  await using home = await tempHome();
  await using s = await scratch();
  const slug = s.slug("two");
  const own = s.image(`bot-bottle-committed-${slug}:${CRAFTED_ID}`);
  const other = s.image(`other-img-${crypto.randomUUID().slice(0, 8)}:1`);
  await sleeperImage(own);
  await pwnedImage(other);
  const artifact = await savedArtifact(s.dir, [own, other]);
  await docker("image", "rm", own, other);
  const file = await craftedBottle(join(s.dir, "two.bottle"), { slug, artifactPath: artifact });
  const run = await runCli(["import", file], home.env);
  equal(run.code, 1);
  match(
    run.stderr,
    /^bot-bottle: error: .* is refused: its artifact holds 2 images, and a snapshot is one; nothing was loaded/,
  );
  equal(run.stderr.split("\n").length, 2);
  equal(await imageId(own), undefined);
  equal(await imageId(other), undefined);
  deepStrictEqual(await snapshotTree(home.root), {});
});

dockerTest(
  "import --name refuses a file whose snapshot name is on another bottle's different image",
  async () => {
    await using home = await tempHome();
    await using s = await scratch();
    const origin = s.slug("origin");
    const theirs = `bot-bottle-committed-${origin}:${CRAFTED_ID}`;
    // The file's image, under the origin's name, is not what that name holds here.
    await pwnedImage(theirs);
    const artifact = await savedArtifact(s.dir, theirs);
    await docker("image", "rm", theirs);
    await docker("tag", TEST_IMAGE, theirs);
    const before = await imageId(theirs);
    const file = await craftedBottle(join(s.dir, "o.bottle"), {
      slug: origin,
      artifactPath: artifact,
    });
    const copy = s.slug("copy");
    const run = await runCli(["import", file, "--name", copy], home.env);
    equal(run.code, 1);
    match(
      run.stderr,
      new RegExp(
        `its snapshot is named "${theirs}", which here names another image, and loading would move that name`,
      ),
    );
    equal(await imageId(theirs), before);
    equal(await docker("images", "-q", `bot-bottle-committed-${copy}`), "");
  },
);

Deno.test("import refuses an OCI-layout artifact whose io.containerd.image.name is another image, loading nothing", async () => {
  await using home = await tempHome();
  const victim = {
    reference: "docker.io/library/victim-base:latest",
    files: { "etc/os-release": "victim\n" },
    config: { Cmd: ["sh"] },
    platform: { os: "linux", architecture: "arm64" },
  };
  await using doubles = await installDoubles({
    container: { ...defaultContainerWorld(), images: [victim] },
  });
  const dir = await Deno.makeTempDir();
  try {
    const layer = join(dir, "rootfs.tar");
    await Deno.writeTextFile(layer, "not really a layer");
    const artifact = join(dir, "artifact.macos-container.tar");
    await writeOciImageArchive(dir, {
      references: [victim.reference],
      layer,
      config: { Cmd: ["sh", "-c", "cat /etc/os-release"] },
      platform: { os: "linux", architecture: "arm64" },
    }, artifact);
    const file = await craftedBottle(join(dir, "oci.bottle"), {
      slug: "oci-a1b2c",
      backend: "macos-container",
      artifactPath: artifact,
    });
    const run = await runCli(["import", file], { ...home.env, ...doubles.env });
    equal(run.code, 1);
    match(
      run.stderr,
      /is refused: its artifact would name the images "docker\.io\/library\/victim-base:latest", "latest", and an import may name only/,
    );
    const world = await doubles.container.read();
    deepStrictEqual(world.images, [victim]);
    deepStrictEqual(world.calls.filter((call) => call[0] === "image" && call[1] !== "list"), []);
    deepStrictEqual(await snapshotTree(home.root), {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "macos-container: import --name refuses a file whose snapshot name is on a different image, loading nothing",
  async () => {
    await using home = await tempHome();
    const theirs = `bot-bottle-committed-origin-a1b2c:${CRAFTED_ID}`;
    const image = (marker: string) => ({
      reference: theirs,
      files: { "work/notes.txt": `${marker}\n` },
      config: { Cmd: ["sh"] },
      platform: { os: "linux", architecture: "arm64" },
    });
    await using doubles = await installDoubles({
      container: { ...defaultContainerWorld(), images: [image("the file's")] },
    });
    const dir = await Deno.makeTempDir();
    try {
      // The file's artifact is what `container image save` wrote for its image…
      const artifact = join(dir, "artifact.macos-container.tar");
      const save = await new Deno.Command("container", {
        args: ["image", "save", "-o", artifact, theirs],
        env: doubles.env,
        stdout: "null",
      }).output();
      equal(save.code, 0);
      // …and here that name is on another image.
      const mine = image("this machine's");
      await doubles.container.write({ ...defaultContainerWorld(), images: [mine] });
      const file = await craftedBottle(join(dir, "o.bottle"), {
        slug: "origin-a1b2c",
        backend: "macos-container",
        artifactPath: artifact,
      });
      const run = await runCli(["import", file, "--name", "copy-d3e4f"], {
        ...home.env,
        ...doubles.env,
      });
      equal(run.code, 1);
      equal(
        run.stderr,
        `bot-bottle: error: ${file} is refused: its snapshot is named "${theirs}", which here ` +
          `names another image, and loading would move that name; remove or rename that image ` +
          `first, or import on a machine without it; nothing was loaded\n`,
      );
      const world = await doubles.container.read();
      deepStrictEqual(world.images, [mine]);
      deepStrictEqual(world.calls.filter((call) => call[0] === "image" && call[1] !== "list"), []);
      deepStrictEqual(await snapshotTree(home.root), {});
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** The issue's run configuration: the host's root, the engine socket, host networking. */
const hostRunConfig = (volume: string) =>
  runConfig({
    env: ["GREETING=hello"],
    volumes: ["/:/host", "/var/run/docker.sock:/var/run/docker.sock", `${volume}:/data`].sort(),
    network: "host",
  });

dockerTest(
  "an imported bottle's host paths, engine socket and host network are not used without consent, and are with it",
  async () => {
    await using home = await tempHome();
    await using s = await scratch();
    const slug = s.slug("host");
    const volume = `trust-${slug}`;
    const file = await craftedBottle(join(s.dir, "host.bottle"), {
      slug,
      artifactPath: await ownArtifact(s.dir, slug),
      runConfig: hostRunConfig(volume),
    });
    const bound = async (name: string) =>
      JSON.parse(
        await docker(
          "inspect",
          "--format",
          "{{json .HostConfig.Binds}} {{json .HostConfig.NetworkMode}}",
          `bot-bottle-${name}`,
        ).then((out) => `[${out.replace(" ", ",")}]`),
      ).map((each: unknown) => Array.isArray(each) ? each.sort() : each);
    const denied = s.slug("denied");
    const allowed = s.slug("allowed");
    try {
      const run = await runCli(["import", file, "--name", denied, "--json"], home.env);
      equal(run.code, 0, run.stderr);
      equal(
        run.stderr,
        `warning: bottle "${denied}" will resume without the host access its file asks for: ` +
          `this machine's whole root filesystem at /host; the socket /var/run/docker.sock at ` +
          `/var/run/docker.sock (control of the engine, which is root on this machine); the ` +
          `host's network (--network host): every port and interface of this machine; if you ` +
          `trust the file, import it again with --allow-host-access (and --force, to add it to ` +
          `this bottle)\n`,
      );
      const result = JSON.parse(run.stdout);
      equal(result.hostAccess.granted, false);
      deepStrictEqual(
        result.hostAccess.requested.map((each: { setting: string }) => each.setting),
        ["/:/host", "/var/run/docker.sock:/var/run/docker.sock", "host"],
      );
      deepStrictEqual(result.env, ["GREETING=hello"]);
      equal((await runCli(["resume", denied], home.env)).code, 0);
      deepStrictEqual(await bound(denied), [[`${volume}:/data`], "default"]);

      const yes = await runCli(
        ["import", file, "--name", allowed, "--allow-host-access"],
        home.env,
      );
      equal(yes.code, 0, yes.stderr);
      match(
        yes.stderr,
        /will resume with the host access its file asks for: this machine's whole root/,
      );
      equal((await runCli(["resume", allowed], home.env)).code, 0);
      deepStrictEqual(await bound(allowed), [
        ["/:/host", "/var/run/docker.sock:/var/run/docker.sock", `${volume}:/data`],
        "host",
      ]);
    } finally {
      for (const name of [denied, allowed]) await removeBottleObjects(name);
      await docker("volume", "rm", "-f", volume).catch(() => {});
    }
  },
);

if (hasTerminal) {
  dockerTest(
    "on a terminal, import asks before a bottle may use the host, naming each item",
    async () => {
      await using home = await tempHome();
      await using s = await scratch();
      const slug = s.slug("ask");
      const volume = `trust-${slug}`;
      const file = await craftedBottle(join(s.dir, "ask.bottle"), {
        slug,
        artifactPath: await ownArtifact(s.dir, slug),
        runConfig: hostRunConfig(volume),
      });
      for (const [answer, granted] of [["n", false], ["y", true]] as const) {
        const name = s.slug(`ask${answer}`);
        const run = await runOnTerminal(["import", file, "--name", name], home.env, [
          { prompt: "Allow it?", keys: `${answer}\r` },
        ]);
        equal(run.code, 0, run.screen);
        match(run.screen, /whole root filesystem at \/host; the socket \/var\/run\/docker\.sock/);
        const recorded = JSON.parse(
          await Deno.readTextFile(join(home.stateDir(name), "run-config.json")),
        );
        equal(recorded.network, granted ? "host" : undefined, answer);
        equal(recorded.volumes.includes("/:/host"), granted, answer);
      }
    },
  );
}

Deno.test("import resets copy_cwd from the file's metadata, saying so", async () => {
  await using home = await tempHome();
  await using doubles = await installDoubles();
  const dir = await Deno.makeTempDir();
  try {
    const artifact = join(dir, "artifact.smolmachine");
    await Deno.writeTextFile(artifact, "a machine");
    const file = await craftedBottle(join(dir, "cwd.bottle"), {
      slug: "cwd-a1b2c",
      backend: "smolmachines",
      artifactPath: artifact,
      artifactName: "artifact.smolmachine",
      metadata: { cwd: "/home/victim/secrets", copy_cwd: true },
    });
    const run = await runCli(["import", file], { ...home.env, ...doubles.env });
    equal(run.code, 0, run.stderr);
    match(
      run.stderr,
      /note: copy_cwd was reset to false: the bottle's metadata asked the launcher to copy "\/home\/victim\/secrets" on this machine into it/,
    );
    const metadata = JSON.parse(
      await Deno.readTextFile(join(home.stateDir("cwd-a1b2c"), "metadata.json")),
    );
    equal(metadata.copy_cwd, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Puts a record naming `artifact` first in the bottle's history. */
async function foreignRecord(dir: string, artifact: string): Promise<void> {
  const path = join(dir, "snapshots.json");
  const history = JSON.parse(await Deno.readTextFile(path));
  history.snapshots.unshift({ ...history.snapshots[0], id: "20200101T000000Z", artifact });
  await Deno.writeTextFile(path, JSON.stringify(history));
}

dockerTest(
  "prune, retention and destroy leave alone an image that the history names but the bottle does not own",
  async () => {
    await using s = await scratch();
    const victim = await s.victim();
    await using b = await bottleWithState("owner", 2);
    const { slug } = b.bottle;
    const left = new RegExp(
      `warning: left ${victim.name.replace(".", "\\.")} alone: a state file of bottle "${slug}" ` +
        `names it, but it is not named bot-bottle-committed-${slug}:<tag>`,
    );

    await foreignRecord(b.dir, victim.name);
    const pruned = await runCli(["prune", slug, "--keep", "1"], b.home.env);
    equal(pruned.code, 0, pruned.stderr);
    match(pruned.stderr, left);
    equal(await imageId(victim.name), victim.id);

    await foreignRecord(b.dir, victim.name);
    const committed = await runCli(["commit", slug], {
      ...b.home.env,
      BOT_BOTTLE_KEEP_SNAPSHOTS: "1",
    });
    equal(committed.code, 0, committed.stderr);
    match(committed.stderr, left);
    equal(await imageId(victim.name), victim.id);

    await foreignRecord(b.dir, victim.name);
    await Deno.writeTextFile(join(b.dir, "committed-image"), `${victim.name}\n`);
    const destroyed = await runCli(["destroy", slug, "--yes"], b.home.env);
    equal(destroyed.code, 0, destroyed.stderr);
    match(destroyed.stderr, left);
    equal(await imageId(victim.name), victim.id);
    equal(await Deno.lstat(b.dir).then(() => true, () => false), false);
  },
);

Deno.test("smolmachines: prune and destroy leave alone a snapshot file outside the state directory or behind a link", async () => {
  const slug = "vm-t9r4s";
  await using bottle = await bottleOnDoubles(slug, "smolmachines", {
    smolvm: { ...defaultSmolvmWorld(), machines: [fakeMachine(slug, { state: "stopped" })] },
  });
  for (let n = 0; n < 2; n++) equal((await bottle.commit()).code, 0);
  const outside = join(bottle.home.home, "precious.smolmachine");
  const linkTarget = join(bottle.home.home, "linked.smolmachine");
  await Deno.writeTextFile(outside, "the user's own machine");
  await Deno.writeTextFile(linkTarget, "another machine");
  const link = join(bottle.dir, "snapshots", "evil.smolmachine");
  await Deno.symlink(linkTarget, link);

  await foreignRecord(bottle.dir, outside);
  await foreignRecord(bottle.dir, link);
  const pruned = await runCli(["prune", slug, "--keep", "1"], bottle.env);
  equal(pruned.code, 0, pruned.stderr);
  match(
    pruned.stderr,
    new RegExp(`warning: left ${outside} alone: .*not inside the bottle's state directory`),
  );
  match(pruned.stderr, new RegExp(`warning: left ${link} alone: .*is a symbolic link`));
  equal(await Deno.readTextFile(outside), "the user's own machine");
  equal(await Deno.readTextFile(linkTarget), "another machine");

  await foreignRecord(bottle.dir, outside);
  const destroyed = await runCli(["destroy", slug, "--yes"], bottle.env);
  equal(destroyed.code, 0, destroyed.stderr);
  match(destroyed.stderr, new RegExp(`warning: left ${outside} alone`));
  equal(await Deno.readTextFile(outside), "the user's own machine");
  equal(await Deno.readTextFile(linkTarget), "another machine");
});

dockerTest(
  "import refuses to move a leftover image that already has the snapshot's new name",
  async () => {
    await using home = await tempHome();
    await using s = await scratch();
    const origin = s.slug("origin");
    const file = await craftedBottle(join(s.dir, "o.bottle"), {
      slug: origin,
      artifactPath: await ownArtifact(s.dir, origin),
    });
    const copy = s.slug("copy");
    const leftover = `bot-bottle-committed-${copy}:${CRAFTED_ID}`;
    await docker("tag", TEST_IMAGE, leftover);
    const before = await imageId(leftover);
    const run = await runCli(["import", file, "--name", copy], home.env);
    equal(run.code, 1);
    match(
      run.stderr,
      new RegExp(
        `the name ${leftover} is already on an image that the history of bottle "${copy}" does ` +
          `not record \\(a leftover\\); run "bot-bottle prune ${copy}" and import again`,
      ),
    );
    equal(await imageId(leftover), before);
    equal(await imageId(`bot-bottle-committed-${origin}:${CRAFTED_ID}`), undefined);
    equal(await Deno.lstat(home.stateDir(copy)).then(() => true, () => false), false);
  },
);
