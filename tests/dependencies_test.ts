// Every package the project uses is declared in deno.json and pinned in
// deno.lock, so that the set-up (`deno install --frozen` in .ci/run) fetches
// it and nothing is downloaded at test time: a file under tests/, bench/ or
// scripts/ that names an npm:/jsr: specifier of its own would be fetched by
// the test that runs it, and would pass only where a warm cache hides it.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { relative } from "node:path";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
/** The check's own samples, undeclared on purpose: the scan leaves this file and them alone. */
const SAMPLES = new URL("./_fixtures/specifier_samples.json", import.meta.url).pathname;

/** `npm:`/`jsr:` specifiers as code names them: in quotes, backticks or on a command line. */
const SPECIFIER =
  /(?<![\w.:/-])(?:npm|jsr):(?:@[\w.-]+\/)?[\w.-]+(?:@[^\s"'`/)]+)?(?:\/[^\s"'`)]*)?/g;

/** The specifiers named in `text`. */
function specifiersIn(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((match) => match[0]);
}

/** Whether deno.json's `imports` declare `specifier` (itself, or a subpath of a declared package). */
function declared(specifier: string, imports: Record<string, string>): boolean {
  return Object.values(imports).some((target) =>
    specifier === target || specifier.startsWith(`${target}/`)
  );
}

/** Every file under `dir`, recursively. */
async function* files(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* files(path);
    else if (entry.isFile) yield path;
  }
}

Deno.test("tests, benchmarks and scripts name only npm:/jsr: packages that deno.json declares", async () => {
  const undeclared: string[] = [];
  for (const dir of ["tests", "bench", "scripts"]) {
    for await (const path of files(`${ROOT}${dir}`)) {
      if (path === SELF || path === SAMPLES) continue;
      const text = await Deno.readTextFile(path).catch(() => "");
      for (const specifier of specifiersIn(text)) {
        if (!declared(specifier, denoJson.imports)) {
          undeclared.push(`${relative(ROOT, path)}: ${specifier}`);
        }
      }
    }
  }
  deepStrictEqual(
    undeclared,
    [],
    "declare each in deno.json imports (then `deno install` pins it in deno.lock) and import it " +
      "by its name there",
  );
});

Deno.test("every package deno.json declares is pinned in deno.lock", async () => {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  const pinned = Object.keys(lock.specifiers ?? {});
  for (const [name, target] of Object.entries(denoJson.imports)) {
    ok(
      /^(npm|jsr):.+@\d+\.\d+\.\d+/.test(target),
      `${name} is pinned to an exact version: ${target}`,
    );
    ok(pinned.includes(target), `${target} is in deno.lock (run ./scripts/deno install)`);
  }
});

Deno.test("the specifier check finds undeclared packages, versions and subpaths", async () => {
  const samples = JSON.parse(await Deno.readTextFile(SAMPLES));
  deepStrictEqual(specifiersIn(samples.text), samples.found);
  for (const [specifier, expected, why] of samples.declared) {
    equal(declared(specifier, samples.imports), expected, `${specifier}: ${why}`);
  }
});
