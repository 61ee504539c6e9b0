// What `commit` and `resume` load before they run a backend command: every
// module reached by static imports from their CLI and operation modules and
// from the built-in freezer modules (the registry loads all three). The
// archive code (tar-stream, node:crypto, node:zlib) costs tens of
// milliseconds to load, and only export, import, push and pull use it: they
// import it when they run (docs/benchmarks.md, "Commit and resume").

import { deepStrictEqual, equal } from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface Dependency {
  code?: { specifier?: string };
  isDynamic?: boolean;
}

/** The graph `deno info` reports for `root`, a path from the repository root. */
async function graphOf(root: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  equal(output.code, 0, `deno info ${root} failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string; dependencies?: Dependency[] }[];
    redirects: Record<string, string>;
  };
}

/** Everything reached from `roots` (paths from the repository root) by static code imports. */
async function staticClosure(roots: readonly string[]): Promise<Set<string>> {
  const graphs = await Promise.all(roots.map(graphOf));
  const modules = new Map(
    graphs.flatMap((graph) => graph.modules).map((module) => [module.specifier, module]),
  );
  const redirects: Record<string, string> = Object.assign(
    {},
    ...graphs.map((graph) => graph.redirects),
  );
  const resolve = (specifier: string) => redirects[specifier] ?? specifier;
  const reached = new Set<string>();
  const pending = roots.map((root) => resolve(new URL(root, ROOT).href));
  for (let specifier = pending.pop(); specifier !== undefined; specifier = pending.pop()) {
    if (reached.has(specifier)) continue;
    reached.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (target !== undefined && !dependency.isDynamic) pending.push(resolve(target));
    }
  }
  return reached;
}

/** The archive modules among `modules`. */
function archiveCode(modules: Set<string>): string[] {
  return [...modules].filter((specifier) =>
    specifier.includes("tar-stream") || specifier === "node:crypto" ||
    specifier === "node:zlib" || specifier.endsWith("/lib/archive/companion.ts")
  ).sort();
}

Deno.test("commit and resume load no archive code before they run", async () => {
  const loaded = await staticClosure([
    "main.ts",
    "lib/cli/main.ts",
    "lib/cli/commit.ts",
    "lib/cli/resume.ts",
    "lib/ops/commit.ts",
    "lib/ops/resume.ts",
    "lib/prompter.ts",
    "lib/registry/registry.ts",
    "backends/docker.ts",
    "backends/macos_container.ts",
    "backends/smolmachines.ts",
  ]);
  equal(loaded.has(new URL("backends/image.ts", ROOT).href), true);
  deepStrictEqual(archiveCode(loaded), []);
});

Deno.test("the closure finds archive code a module imports statically", async () => {
  const loaded = await staticClosure(["lib/archive/companion.ts"]);
  equal(archiveCode(loaded).some((specifier) => specifier.includes("tar-stream")), true);
  equal(archiveCode(loaded).includes("node:crypto"), true);
});
