// `deno compile` bundles only the module graph of main.ts (static imports,
// and dynamic ones of literal specifiers), and the registry loads freezer
// modules by the paths registry.json names. Every one of them must therefore
// be in the graph (lib/registry/freezer_module.ts imports each built-in one by a literal).

import { deepStrictEqual, equal } from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const REGISTRY_URL = new URL("registry.json", ROOT);

/** The specifiers of every module in the static graph of `main.ts`. */
async function staticGraph(): Promise<Set<string>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  equal(output.code, 0, `deno info failed: ${stderr}`);
  const info = JSON.parse(new TextDecoder().decode(output.stdout));
  return new Set(info.modules.map((module: { specifier: string }) => module.specifier));
}

/** The freezer modules of `paths` (relative to registry.json) that the graph lacks. */
function missingFromGraph(graph: Set<string>, paths: readonly string[]): string[] {
  return paths.filter((path) => !graph.has(new URL(path, REGISTRY_URL).href));
}

Deno.test("every freezer module in registry.json is in the static graph of main.ts", async () => {
  const registry = JSON.parse(await Deno.readTextFile(REGISTRY_URL));
  const freezers = Object.values(registry.backends as Record<string, { freezer: string }>)
    .map((backend) => backend.freezer);
  equal(freezers.length > 0, true, "registry.json names no freezer");
  const graph = await staticGraph();
  equal(graph.has(new URL("main.ts", ROOT).href), true);
  deepStrictEqual(missingFromGraph(graph, freezers), []);
});

Deno.test("the graph check reports a freezer module that main.ts does not reach", async () => {
  const graph = await staticGraph();
  deepStrictEqual(missingFromGraph(graph, ["./backends/nope.ts", "./backends/docker.ts"]), [
    "./backends/nope.ts",
  ]);
  // A module that exists on disk but that main.ts does not import is missing too.
  deepStrictEqual(missingFromGraph(graph, ["./scripts/emit_registry_schema.ts"]), [
    "./scripts/emit_registry_schema.ts",
  ]);
});
