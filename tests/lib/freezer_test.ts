import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import type { Agent } from "../../lib/state/agent.ts";
import { BackendCommands } from "../../lib/registry/backend_commands.ts";
import { BottleState } from "../../lib/state/bottle_state.ts";
import {
  BackendError,
  BadInputError,
  BotBottleError,
  Cancelled,
  CommitCancelled,
  UsageError,
} from "../../lib/errors.ts";
import {
  type FreezeContext,
  Freezer,
  type FreezerOptions,
  type Frozen,
} from "../../lib/freezer.ts";
import { emptyRunConfig } from "../../lib/state/run_config.ts";
import { DockerBackend } from "../../backends/docker.ts";
import type { BackendSpec } from "../../lib/backend.ts";
import type { Prompter } from "../../lib/prompter.ts";
import { launcherMetadata, snapshotTree, tempHome } from "../_helpers/temp_home.ts";

const SLUG = "dev-abc12";

/**
 * A backend whose failures the tests explain in their own words, and whose
 * protected helpers the tests reach. It is Docker's, and a commit here runs
 * none of its commands: the freezer's snapshot is the test's.
 */
class FakeBackend extends DockerBackend {
  /** Exposes the prompter to the tests. */
  ask(message: string): Promise<boolean> {
    return this.prompter.confirm(message);
  }

  protected override explainFailure(error: BackendError, agent?: Agent): BackendError {
    return new BackendError(`explained for ${agent?.slug ?? "nobody"}: ${error.message}`, error, {
      cause: error,
    });
  }
}

/**
 * A test double of a freezer: freeze() does what the test sets, and records
 * the agents it was given.
 */
class FakeFreezer extends Freezer<FakeBackend> {
  frozen: Agent[] = [];
  behaviour: (agent: Agent, context: FreezeContext) => Promise<string | Frozen> = (agent) =>
    Promise.resolve(`fake-committed-${agent.slug}:latest`);

  protected override freeze(agent: Agent, context: FreezeContext): Promise<string | Frozen> {
    this.frozen.push(agent);
    return this.behaviour(agent, context);
  }

  /** Exposes the backend's deferUndo to the tests. */
  undoStep(
    context: FreezeContext,
    leftBehind: string,
    fix: string,
    step: () => Promise<unknown>,
  ): void {
    this.bottles.deferUndo(context.undo, leftBehind, fix, step);
  }

  override exportCommand(agent: Agent, artifact: string): string {
    return `fake save ${artifact} > ${agent.slug}.tar`;
  }

  ask(message: string): Promise<boolean> {
    return this.bottles.ask(message);
  }

  runCommand(name: string, agent?: Agent) {
    return this.bottles.run(name, {}, agent);
  }
}

function fakeFreezer(spec: BackendSpec, options: FreezerOptions = {}): FakeFreezer {
  return new FakeFreezer(new FakeBackend(spec, options));
}

function makeFreezer(
  options: FreezerOptions = {},
  templates: Record<string, string[]> = {},
): { freezer: FakeFreezer; lines: string[] } {
  const lines: string[] = [];
  const freezer = fakeFreezer(
    { backend: "fake", names: ["fake", ""], commands: new BackendCommands("fake", templates) },
    { log: (line) => lines.push(line), ...options },
  );
  return { freezer, lines };
}

async function agentFor(root: string, slug = SLUG): Promise<Agent> {
  const state = new BottleState(slug, root);
  const metadata = await state.readMetadata();
  return { slug, backend: metadata.backend ?? "", metadata, state };
}

Deno.test("commit() records the committed image and marks the bottle preserved", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const { freezer, lines } = makeFreezer();
  const result = await freezer.commit(await agentFor(home.root));
  deepStrictEqual(result, {
    slug: SLUG,
    backend: "fake",
    snapshotId: result.snapshotId,
    artifact: `fake-committed-${SLUG}:latest`,
    resumeCommand: `bot-bottle resume ${SLUG}`,
    exportCommand: `bot-bottle export ${SLUG}`,
    backendExportCommand: `fake save fake-committed-${SLUG}:latest > ${SLUG}.tar`,
    pruned: [],
    warnings: [],
  });
  equal(await Deno.readTextFile(join(dir, "committed-image")), `fake-committed-${SLUG}:latest\n`);
  equal(await Deno.readTextFile(join(dir, ".preserve")), "");
  deepStrictEqual(lines, [
    `committed bottle "${SLUG}" to fake-committed-${SLUG}:latest (snapshot ${result.snapshotId})`,
    `to resume from this snapshot: bot-bottle resume ${SLUG}`,
    `to move it to another machine: bot-bottle export ${SLUG}`,
  ]);
  deepStrictEqual(Object.keys(await snapshotTree(dir)).sort(), [
    ".preserve",
    "committed-image",
    "metadata.json",
    "snapshots.json",
  ]);
});

Deno.test("commit() leaves metadata.json and the launcher's files untouched", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake", x: 1 }));
  await Deno.mkdir(join(dir, "transcript"));
  await Deno.writeTextFile(join(dir, "transcript", "1.jsonl"), "{}\n");
  await Deno.writeTextFile(join(dir, "Dockerfile"), "FROM scratch\n");
  const before = await snapshotTree(dir);
  await makeFreezer().freezer.commit(await agentFor(home.root));
  const after = await snapshotTree(dir);
  delete after["committed-image"];
  delete after[".preserve"];
  delete after["snapshots.json"];
  deepStrictEqual(after, before);
});

Deno.test("commit() replaces an earlier snapshot's reference and keeps .preserve", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const { freezer } = makeFreezer();
  await freezer.commit(await agentFor(home.root));
  freezer.behaviour = () => Promise.resolve("/abs/second.smolmachine");
  const result = await freezer.commit(await agentFor(home.root));
  equal(result.artifact, "/abs/second.smolmachine");
  equal(await Deno.readTextFile(join(dir, "committed-image")), "/abs/second.smolmachine\n");
  equal(await Deno.readTextFile(join(dir, ".preserve")), "");
});

const FREEZE_FAILURES: [string, () => Error][] = [
  [
    "BackendError",
    () =>
      new BackendError('"docker commit" failed (exit status 1): no such container', {
        backend: "fake",
        command: "commit",
        argv: ["docker", "commit"],
        exitCode: 1,
        stdout: "",
        stderr: "no such container\n",
      }),
  ],
  ["CommitCancelled", () => new CommitCancelled()],
];

for (const [what, makeError] of FREEZE_FAILURES) {
  Deno.test(`commit() writes and logs nothing when freeze() throws ${what}`, async () => {
    await using home = await tempHome();
    await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
    const before = await snapshotTree(home.home);
    const { freezer, lines } = makeFreezer();
    const error = makeError();
    freezer.behaviour = () => Promise.reject(error);
    await rejects(freezer.commit(await agentFor(home.root)), (thrown) => thrown === error);
    equal(freezer.frozen.length, 1);
    deepStrictEqual(await snapshotTree(home.home), before);
    deepStrictEqual(lines, []);
  });
}

Deno.test("commit() writes nothing when a needed confirmation cannot be asked", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const before = await snapshotTree(home.home);
  const { freezer } = makeFreezer();
  freezer.behaviour = async () => {
    await freezer.ask("stop the bottle");
    return "never:latest";
  };
  await rejects(freezer.commit(await agentFor(home.root)), (error: unknown) => {
    if (!(error instanceof UsageError)) return false;
    equal(error.message, "stop the bottle: pass --yes to confirm (there is no terminal to ask on)");
    return true;
  });
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("commit() uses the prompter it was given", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const asked: string[] = [];
  const prompter: Prompter = {
    confirm: (message) => (asked.push(message), Promise.resolve(false)),
    select: () => Promise.resolve(undefined),
  };
  const before = await snapshotTree(home.home);
  const { freezer } = makeFreezer({ prompter });
  freezer.behaviour = async () => {
    if (!(await freezer.ask("stop the bottle"))) throw new CommitCancelled();
    return "never:latest";
  };
  await rejects(freezer.commit(await agentFor(home.root)), CommitCancelled);
  deepStrictEqual(asked, ["stop the bottle"]);
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("commit() writes nothing when recording fails part-way: the files written are rolled back", async () => {
  await using home = await tempHome();
  const dir = await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  // A non-empty directory where run-config.json goes makes its atomic rename
  // fail after snapshots.json was written.
  await Deno.mkdir(join(dir, "run-config.json", "blocker"), { recursive: true });
  const before = await snapshotTree(home.home);
  const { freezer, lines } = makeFreezer();
  const undone: string[] = [];
  freezer.behaviour = (agent, context) => {
    freezer.undoStep(
      context,
      "the image",
      "remove it",
      () => Promise.resolve(undone.push("image")),
    );
    freezer.undoStep(context, "the tag", "move it back", () => Promise.reject(new Error("gone")));
    freezer.undoStep(context, "the link", "unlink it", () => Promise.resolve(undone.push("link")));
    return Promise.resolve({
      artifact: `fake-committed-${agent.slug}:latest`,
      runConfig: emptyRunConfig(),
    });
  };
  await rejects(freezer.commit(await agentFor(home.root)), (error: unknown) => {
    if (!(error instanceof BotBottleError)) return false;
    equal(error.message.startsWith(`recording the snapshot in ${dir} failed (`), true);
    equal(
      error.message.endsWith(
        "); the snapshot was removed again and the bottle's state is as it was: make room or " +
          "make the directory writable, then commit again",
      ),
      true,
      error.message,
    );
    return true;
  });
  deepStrictEqual(await snapshotTree(home.home), before);
  // Every undo step ran, last first; the one that failed is reported, the others still ran.
  deepStrictEqual(undone, ["link", "image"]);
  deepStrictEqual(lines, ["warning: could not undo the tag (gone); move it back"]);
});

Deno.test("commit() rejects an artifact reference that spans lines and writes nothing", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const before = await snapshotTree(home.home);
  const { freezer } = makeFreezer();
  freezer.behaviour = () => Promise.resolve("image:latest\n.preserve");
  await rejects(freezer.commit(await agentFor(home.root)), TypeError);
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("commit() refuses a bottle of another backend without freezing it", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "smolmachines" }));
  const before = await snapshotTree(home.home);
  const { freezer, lines } = makeFreezer();
  await rejects(freezer.commit(await agentFor(home.root)), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(error.message, `bottle "${SLUG}" runs on backend "smolmachines", not "fake"`);
    return true;
  });
  deepStrictEqual(freezer.frozen, []);
  deepStrictEqual(lines, []);
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test('commit() refuses legacy metadata when "" is not among its names', async () => {
  await using home = await tempHome();
  const { backend: _, ...legacy } = launcherMetadata(SLUG);
  await home.writeBottle(SLUG, legacy);
  const freezer = fakeFreezer({
    backend: "fake",
    names: ["fake"],
    commands: new BackendCommands("fake", {}),
  });
  await rejects(freezer.commit(await agentFor(home.root)), {
    name: "BadInputError",
    message: `bottle "${SLUG}" runs on backend "", not "fake"`,
  });
  deepStrictEqual(freezer.frozen, []);
});

const LEGACY: [string, Record<string, unknown>][] = [
  ["without a backend field", (({ backend: _, ...rest }) => rest)(launcherMetadata(SLUG))],
  ['with backend ""', launcherMetadata(SLUG, { backend: "" })],
  ["with backend null", launcherMetadata(SLUG, { backend: null })],
];

for (const [what, metadata] of LEGACY) {
  Deno.test(`commitSlug() accepts legacy metadata ${what} when "" is among its names`, async () => {
    await using home = await tempHome();
    const dir = await home.writeBottle(SLUG, metadata);
    const { freezer } = makeFreezer();
    const result = await freezer.commitSlug(SLUG, home.root);
    equal(result.backend, "fake");
    equal(freezer.frozen[0]?.backend, "");
    equal(await Deno.readTextFile(join(dir, "committed-image")), `${result.artifact}\n`);
    equal(await Deno.readTextFile(join(dir, ".preserve")), "");
  });
}

Deno.test("commitSlug() builds the agent from metadata.json", async () => {
  await using home = await tempHome();
  const metadata = launcherMetadata(SLUG, { backend: "fake", unknown_field: [1] });
  await home.writeBottle(SLUG, metadata);
  await home.writeBottle("other-1", launcherMetadata("other-1", { backend: "fake" }));
  const { freezer } = makeFreezer();
  const result = await freezer.commitSlug(SLUG, home.root);
  equal(result.slug, SLUG);
  equal(freezer.frozen.length, 1);
  const [agent] = freezer.frozen;
  equal(agent?.slug, SLUG);
  equal(agent?.backend, "fake");
  deepStrictEqual(agent?.metadata, metadata);
  equal(agent?.state.dir, home.stateDir(SLUG));
  equal(await new BottleState("other-1", home.root).readCommittedImage(), undefined);
});

Deno.test("commitSlug() uses the state root of the environment by default", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const saved = Deno.env.get("BOT_BOTTLE_HOME");
  try {
    Deno.env.set("BOT_BOTTLE_HOME", home.root);
    await makeFreezer().freezer.commitSlug(SLUG);
  } finally {
    if (saved === undefined) Deno.env.delete("BOT_BOTTLE_HOME");
    else Deno.env.set("BOT_BOTTLE_HOME", saved);
  }
  equal(await new BottleState(SLUG, home.root).isPreserved(), true);
});

Deno.test("commitSlug() rejects a bad slug or missing state before freezing", async () => {
  await using home = await tempHome();
  await home.writeBottle("corrupt-1", undefined, "{");
  const before = await snapshotTree(home.home);
  const { freezer } = makeFreezer();
  for (const slug of ["../x", "Dev", SLUG, "corrupt-1"]) {
    await rejects(freezer.commitSlug(slug, home.root), BadInputError, slug);
  }
  deepStrictEqual(freezer.frozen, []);
  deepStrictEqual(await snapshotTree(home.home), before);
});

Deno.test("resumeCommand() and bottleName() follow the launcher's names", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const { freezer } = makeFreezer();
  equal(freezer.resumeCommand(await agentFor(home.root)), `bot-bottle resume ${SLUG}`);
  equal(freezer.bottles.bottleName(SLUG), `bot-bottle-${SLUG}`);
  equal(freezer.backend, "fake");
  deepStrictEqual(freezer.names, ["fake", ""]);
});

Deno.test("run() passes a backend failure through explainFailure() with the agent", async () => {
  await using home = await tempHome();
  await home.writeBottle(SLUG, launcherMetadata(SLUG, { backend: "fake" }));
  const { freezer } = makeFreezer({}, {
    fail: ["sh", "-c", "echo gone >&2; exit 2"],
    ok: ["printf", "fine"],
  });
  equal((await freezer.runCommand("ok")).stdout, "fine");
  await rejects(freezer.runCommand("fail", await agentFor(home.root)), (error: unknown) => {
    if (!(error instanceof BackendError)) return false;
    equal(error.message, `explained for ${SLUG}: "sh" failed (exit status 2): gone`);
    equal(error.exitCode, 2);
    equal(error.cause instanceof BackendError, true);
    return true;
  });
  await rejects(freezer.runCommand("fail"), {
    message: 'explained for nobody: "sh" failed (exit status 2): gone',
  });
});

Deno.test("run() does not explain errors that are not backend failures", async () => {
  const { freezer } = makeFreezer();
  await rejects(freezer.runCommand("undeclared"), {
    name: "TypeError",
    message: 'backend "fake" has no command "undeclared"',
  });
});

Deno.test("every error is named after its class; CommitCancelled is a Cancelled", () => {
  const errors = [
    new BotBottleError("x"),
    new BadInputError("x"),
    new UsageError("x"),
    new Cancelled(),
    new CommitCancelled(),
  ];
  deepStrictEqual(errors.map((error) => error.name), [
    "BotBottleError",
    "BadInputError",
    "UsageError",
    "Cancelled",
    "CommitCancelled",
  ]);
  ok(new CommitCancelled() instanceof Cancelled);
  equal(new Cancelled().message, "cancelled; nothing was changed");
});
