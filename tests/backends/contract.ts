// The backend contract: one set of tests, driving the CLI as a subprocess,
// that every backend passes — Docker for real, Apple `container` and smolvm
// through their doubles. A backend gets it by adding one line to
// tests/backends/contract_test.ts with its fixture (contract_fixtures.ts).

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { type CliRun, runCli } from "../_helpers/cli.ts";
import { snapshotTree, type TempHome } from "../_helpers/temp_home.ts";

/** One test's setting for a backend: a temp home, and the backend's world. */
export interface ContractSetting extends AsyncDisposable {
  home: TempHome;
  /** The CLI's environment. */
  env: Record<string, string>;
  /** What `bot-bottle start --backend <backend> --name <label>` is given besides. */
  startArgs: string[];
  /** Writes `text` where the agent works in bottle `slug`. */
  writeMarker(slug: string, text: string): Promise<void>;
  /** Reads it back from the bottle `slug` runs now (`undefined` if it is not there). */
  readMarker(slug: string): Promise<string | undefined>;
  /** Removes bottle `slug`'s container or machine behind bot-bottle's back. */
  removeBottle(slug: string): Promise<void>;
  /** Removes every snapshot of `slug` behind bot-bottle's back. */
  removeSnapshots(slug: string): Promise<void>;
  /** The objects of `slug` still in the backend (containers, machines, snapshots). */
  leftovers(slug: string): Promise<string[]>;
  /** Backend-specific checks after `start` (hints, calls made). */
  checkStarted?(slug: string, run: CliRun): Promise<void> | void;
  /** Backend-specific checks after `commit` (hints). */
  checkCommitted?(slug: string, run: CliRun): Promise<void> | void;
  /** Backend-specific checks after the first `resume` (what else the bottle kept). */
  checkResumed?(slug: string, run: CliRun): Promise<void> | void;
}

/** How the contract runs against one backend. */
export interface BackendFixture {
  /** The backend's name, as `start --backend` takes it. */
  backend: string;
  /** Declares a test (`Deno.test`, or `dockerTest` for the real engine). */
  test(name: string, fn: () => Promise<void>): void;
  /** A unique label for a test bottle, e.g. `c-3f2a…`. */
  label(prefix: string): string;
  setUp(): Promise<ContractSetting>;
  /** The error when bottle `slug`'s container or machine is gone. */
  missingBottle(slug: string): RegExp;
  /** The error when `resume` finds `slug`'s snapshot gone. */
  missingSnapshot(slug: string): RegExp;
  /**
   * Push and pull through a registry: the registry's host the backend's CLI
   * reaches (a push → destroy → pull → resume round trip), or the refusal of
   * a backend that cannot. Absent: tested elsewhere (Docker, with a real
   * registry: tests/push_pull_test.ts).
   */
  registry?: { host: string } | { refused: RegExp };
}

function ok0(run: CliRun, what: string) {
  equal(run.code, 0, `${what}: exit ${run.code}: ${run.stderr}`);
}

/** Registers the contract's tests for the backend `fixture` describes. */
export function backendContract(fixture: BackendFixture): void {
  const { backend } = fixture;

  async function started(t: ContractSetting, label: string): Promise<string> {
    const run = await runCli(
      ["start", "--backend", backend, "--name", label, ...t.startArgs],
      t.env,
    );
    ok0(run, "start");
    const slug = run.stdout.trim();
    equal(slug, label);
    const metadata = JSON.parse(
      await Deno.readTextFile(join(t.home.stateDir(slug), "metadata.json")),
    );
    equal(metadata.backend, backend);
    await t.checkStarted?.(slug, run);
    return slug;
  }

  fixture.test(
    `${backend} contract: start → commit → snapshots → destroy --keep-snapshot → resume → ls → export → import --name → resume → destroy`,
    async () => {
      await using t = await fixture.setUp();
      const cli = (...args: string[]) => runCli(args, t.env);
      const slug = await started(t, fixture.label("rt"));
      await t.writeMarker(slug, "agent work\n");

      const committed = await cli("commit", slug, "--yes");
      ok0(committed, "commit");
      await t.checkCommitted?.(slug, committed);
      const history = JSON.parse((await cli("snapshots", slug, "--json")).stdout);
      equal(history.length, 1);
      equal(history[0].current, true);

      ok0(await cli("destroy", slug, "--keep-snapshot", "--yes"), "destroy --keep-snapshot");
      equal(await t.readMarker(slug), undefined, "the bottle is gone");
      equal(JSON.parse((await cli("ls", "--json")).stdout)[0].state, "absent");
      match(
        await Deno.readTextFile(join(t.home.stateDir(slug), "committed-image")),
        /\S\n$/,
        "the snapshot is still recorded",
      );

      const resumed = await cli("resume", slug);
      ok0(resumed, "resume");
      equal(await t.readMarker(slug), "agent work\n");
      await t.checkResumed?.(slug, resumed);

      // resuming over the running bottle needs --replace, and then works again
      const again = await cli("resume", slug);
      equal(again.code, 1, again.stderr);
      match(again.stderr, new RegExp(`bottle "${slug}" is still running as \\S+; pass --replace`));
      ok0(await cli("resume", slug, "--replace", "--yes"), "resume --replace");
      equal(await t.readMarker(slug), "agent work\n");

      const rows = JSON.parse((await cli("ls", "--json")).stdout);
      equal(rows.length, 1);
      equal(rows[0].slug, slug);
      equal(rows[0].backend, backend);
      equal(rows[0].state, "running");
      equal(rows[0].snapshot.exists, true);
      equal(
        `${rows[0].snapshot.artifact}\n`,
        await Deno.readTextFile(join(t.home.stateDir(slug), "committed-image")),
      );

      const file = join(t.home.home, `${slug}.bottle`);
      ok0(await cli("export", slug, "-o", file), "export");
      const copy = `${slug}-copy`;
      const imported = await cli("import", file, "--name", copy, "--json");
      ok0(imported, "import");
      equal(JSON.parse(imported.stdout).slug, copy);
      ok0(await cli("resume", copy), "resume the copy");
      equal(await t.readMarker(copy), "agent work\n");
      equal(JSON.parse((await cli("ls", "--json")).stdout).length, 2);

      ok0(await cli("destroy", slug, "--yes"), "destroy");
      ok0(await cli("destroy", copy, "--yes"), "destroy the copy");
      deepStrictEqual(JSON.parse((await cli("ls", "--json")).stdout), []);
      deepStrictEqual(await snapshotTree(join(t.home.root, "state")), {});
      deepStrictEqual([...await t.leftovers(slug), ...await t.leftovers(copy)], []);
    },
  );

  fixture.test(
    `${backend} contract: exec runs a command in the bottle (stdin and stdout through, its exit status); an absent bottle is refused naming resume`,
    async () => {
      await using t = await fixture.setUp();
      const slug = await started(t, fixture.label("ex"));
      const piped = await runCli(["exec", slug, "--", "cat"], t.env, "through stdin\n");
      ok0(piped, "exec -- cat");
      equal(piped.stdout, "through stdin\n");
      ok0(await runCli(["exec", slug, "true"], t.env), "exec true");
      const failed = await runCli(["exec", slug, "cat", "/no/such/file"], t.env);
      equal(failed.code, 1, "the command's exit status");
      match(failed.stderr, /^cat: .*\/no\/such\/file/, "the command's own error, not bot-bottle's");

      ok0(await runCli(["commit", slug, "--yes"], t.env), "commit");
      ok0(await runCli(["destroy", slug, "--keep-snapshot", "--yes"], t.env), "destroy");
      const refused = await runCli(["exec", slug, "true"], t.env);
      equal(refused.code, 1);
      equal(
        refused.stderr,
        `bot-bottle: error: bottle "${slug}" is not running (absent); start it from its ` +
          `snapshot with "bot-bottle resume ${slug}", then exec again\n`,
      );
      ok0(await runCli(["destroy", slug, "--yes"], t.env), "destroy");
    },
  );

  fixture.test(`${backend} contract: resume --at ~1 brings back the older snapshot`, async () => {
    await using t = await fixture.setUp();
    const cli = (...args: string[]) => runCli(args, t.env);
    const slug = await started(t, fixture.label("at"));
    for (const generation of ["one", "two"]) {
      await t.writeMarker(slug, generation);
      ok0(await cli("commit", slug, "--yes", "--message", `gen ${generation}`), "commit");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const rows = JSON.parse((await cli("snapshots", slug, "--json")).stdout);
    deepStrictEqual(rows.map((row: { message: string }) => row.message), ["gen two", "gen one"]);
    equal(rows[0].current, true);
    ok0(await cli("destroy", slug, "--keep-snapshot", "--yes"), "destroy --keep-snapshot");
    ok0(await cli("resume", slug, "--at", "~1"), "resume --at ~1");
    equal(await t.readMarker(slug), "one");
    ok0(await cli("destroy", slug, "--yes"), "destroy");
    deepStrictEqual(await t.leftovers(slug), []);
  });

  fixture.test(
    `${backend} contract: a missing bottle and a missing snapshot are named, and nothing changes`,
    async () => {
      await using t = await fixture.setUp();
      const cli = (...args: string[]) => runCli(args, t.env);
      const slug = await started(t, fixture.label("gone"));
      ok0(await cli("commit", slug, "--yes"), "commit");

      await t.removeBottle(slug);
      let before = await snapshotTree(t.home.home);
      const orphan = await cli("commit", slug, "--yes");
      equal(orphan.code, 1, orphan.stderr);
      match(orphan.stderr, /^bot-bottle: error: [^\n]+\n$/);
      match(orphan.stderr, fixture.missingBottle(slug));
      deepStrictEqual(await snapshotTree(t.home.home), before);

      await t.removeSnapshots(slug);
      before = await snapshotTree(t.home.home);
      const gone = await cli("resume", slug);
      equal(gone.code, 1, gone.stderr);
      match(gone.stderr, /^bot-bottle: error: [^\n]+\n$/);
      match(gone.stderr, fixture.missingSnapshot(slug));
      deepStrictEqual(await snapshotTree(t.home.home), before);
      equal(await t.readMarker(slug), undefined);

      // destroy: removing what is already gone is fine
      ok0(await cli("destroy", slug, "--yes"), "destroy");
      deepStrictEqual(await snapshotTree(join(t.home.root, "state")), {});
      deepStrictEqual(await t.leftovers(slug), []);
    },
  );

  const registry = fixture.registry;
  if (registry && "host" in registry) {
    fixture.test(
      `${backend} contract: commit twice → push → destroy → pull --name → resume; push --at ~1 without a tag`,
      async () => {
        await using t = await fixture.setUp();
        const cli = (...args: string[]) => runCli(args, t.env);
        const slug = await started(t, fixture.label("push"));
        await t.writeMarker(slug, "one\n");
        ok0(await cli("commit", slug, "--yes"), "commit");
        await t.writeMarker(slug, "two\n");
        ok0(await cli("commit", slug, "--yes"), "commit");
        const ref = `${registry.host}/team/${slug}:v1`;
        const pushed = await cli("push", slug, ref);
        ok0(pushed, "push");
        match(pushed.stdout, new RegExp(`^${quote(ref)}@sha256:[0-9a-f]{64}\n$`));
        const [newest, older] = JSON.parse((await cli("snapshots", slug, "--json")).stdout);
        deepStrictEqual(
          newest.pushes.map((push: { ref: string; digest: string }) =>
            `${push.ref}@${push.digest}`
          ),
          [pushed.stdout.trim()],
        );
        const olderPush = await cli("push", slug, "--at", "~1", `${registry.host}/team/${slug}`);
        ok0(olderPush, "push --at ~1");
        match(
          olderPush.stdout,
          new RegExp(`^${quote(`${registry.host}/team/${slug}:${older.id}`)}@`),
        );

        ok0(await cli("destroy", slug, "--yes"), "destroy");
        deepStrictEqual(await t.leftovers(slug), []);
        for (
          const [from, name, marker] of [[ref, `${slug}-a`, "two\n"], [
            olderPush.stdout.trim(),
            `${slug}-b`,
            "one\n",
          ]]
        ) {
          const pulled = await cli(
            "pull",
            from!,
            "--name",
            name!,
            "--allow-host-access",
            "--backend",
            backend,
          );
          ok0(pulled, `pull ${from}`);
          match(pulled.stderr, new RegExp(`to resume it: bot-bottle resume ${name}\n`));
          ok0(await cli("resume", name!, "--yes"), `resume ${name}`);
          equal(await t.readMarker(name!), marker);
        }
        const [copy] = JSON.parse((await cli("snapshots", `${slug}-a`, "--json")).stdout);
        equal(copy.id, newest.id);
        deepStrictEqual(copy.pushes.map((push: { ref: string }) => push.ref), [ref]);
      },
    );
  } else if (registry) {
    fixture.test(`${backend} contract: push and pull are refused in one line, nothing changed`, async () => {
      await using t = await fixture.setUp();
      const cli = (...args: string[]) => runCli(args, t.env);
      const slug = await started(t, fixture.label("push"));
      ok0(await cli("commit", slug, "--yes"), "commit");
      const before = await snapshotTree(t.home.root);
      for (
        const args of [["push", slug, `127.0.0.1:5000/team/${slug}:v1`], [
          "pull",
          `127.0.0.1:5000/team/${slug}:v1`,
          "--backend",
          backend,
          "--name",
          `${slug}-a`,
        ]]
      ) {
        const run = await cli(...args);
        equal(run.code, 1, `${args[0]}: ${run.stderr}`);
        match(run.stderr, new RegExp(`^bot-bottle: error: ${registry.refused.source}\n$`));
        deepStrictEqual(await snapshotTree(t.home.root), before);
      }
    });
  }

  fixture.test(`${backend} contract: a bad slug is refused, and nothing changes`, async () => {
    await using t = await fixture.setUp();
    const slug = await started(t, fixture.label("bad"));
    await t.writeMarker(slug, "agent work\n");
    ok0(await runCli(["commit", slug, "--yes"], t.env), "commit");
    const before = await snapshotTree(t.home.home);
    const objects = await t.leftovers(slug);
    const commands = [
      ["commit", "--yes"],
      ["resume"],
      ["destroy", "--yes"],
      ["snapshots"],
      ["export"],
      ["prune", "--keep", "1"],
    ];
    for (const [command, ...options] of commands) {
      const run = await runCli([command!, "../Bad Slug", ...options], t.env);
      equal(run.code, 1, `${command}: ${run.stderr}`);
      equal(
        run.stderr,
        `bot-bottle: error: "../Bad Slug" is not a valid bottle slug; a slug is lower-case ` +
          `letters and digits in runs joined by single "-" (e.g. "dev-abc12"); "bot-bottle ls" ` +
          `lists the known bottles\n`,
        command,
      );
    }
    deepStrictEqual(await snapshotTree(t.home.home), before);
    deepStrictEqual(await t.leftovers(slug), objects);
    equal(await t.readMarker(slug), "agent work\n");
    ok0(await runCli(["destroy", slug, "--yes"], t.env), "destroy");
  });
}

/** `text` as a regular expression that matches it literally. */
function quote(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
