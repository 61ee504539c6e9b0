// The project's home (release.json): the one place its download locations
// are written. Every file that must show them literally (scripts/home.ts
// mirrors()) shows release.json's values, as many times as it is known to,
// and no other file in the tree holds a copy.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import release from "../release.json" with { type: "json" };
import {
  allowedFiles,
  HOME,
  homeProblem,
  installScriptUrl,
  mirrors,
  secondCopies,
  stems,
} from "../scripts/home.ts";
import { present } from "./_helpers/present.ts";

const ROOT = new URL("../", import.meta.url);

/** Every text file of the tree as git sees it (tracked, and new files not ignored). */
async function treeFiles(): Promise<Map<string, string>> {
  const output = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const files = new Map<string, string>();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (const path of new TextDecoder().decode(output.stdout).split("\0").filter(Boolean)) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(new URL(path, ROOT));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // deleted, not yet committed
      throw error;
    }
    if (bytes.includes(0)) continue;
    try {
      files.set(path, decoder.decode(bytes));
    } catch {
      // not text
    }
  }
  return files;
}

Deno.test("release.json holds one location per kind, each well-formed", () => {
  deepStrictEqual(Object.keys(release).sort(), [
    "downloadUrl",
    "feature",
    "installScriptUrl",
    "repository",
  ]);
  equal(homeProblem(release), undefined);
  for (
    const [bad, reason] of [
      [{ ...release, downloadUrl: `${release.downloadUrl}/` }, '"downloadUrl"'],
      [{ ...release, repository: "http://example.com/o/r" }, '"repository"'],
      [{ ...release, installScriptUrl: "https://example.com/o/r/install.sh" }, "{version}"],
      [{ ...release, feature: "ghcr.io/o/r/feature:1" }, '"feature"'],
    ] as const
  ) {
    ok(homeProblem(bad)?.includes(reason), `${JSON.stringify(bad)}: ${homeProblem(bad)}`);
  }
  ok(installScriptUrl("1.2.3").includes("1.2.3"));
});

Deno.test("every file that shows the locations shows release.json's", async () => {
  const wrong: string[] = [];
  for (const [path, expected] of Object.entries(mirrors())) {
    const text = await Deno.readTextFile(new URL(path, ROOT));
    for (const copy of new Set(expected)) {
      const want = expected.filter((each) => each === copy).length;
      const found = text.split(copy).length - 1;
      if (found !== want) {
        wrong.push(`${path}: ${JSON.stringify(copy)} ${found} times, not ${want}`);
      }
    }
  }
  deepStrictEqual(wrong, [], "write release.json's values there (scripts/home.ts mirrors())");
});

Deno.test("install.sh carries each location in one marked line", async () => {
  const text = await Deno.readTextFile(new URL("install.sh", ROOT));
  for (
    const [name, key] of [["REPOSITORY", "repository"], ["DEFAULT_DOWNLOAD_URL", "downloadUrl"]]
  ) {
    const lines = text.split("\n").filter((line) => line.includes(`# release.json "${key}"`));
    deepStrictEqual(lines, [`${name}=${HOME[key as "repository"]} # release.json "${key}"`]);
  }
});

Deno.test("no file in the tree holds a second copy of a location", async () => {
  const files = await treeFiles();
  ok(files.has("release.json") && files.has("install.sh"), [...files.keys()].join("\n"));
  deepStrictEqual(secondCopies(files), []);
});

Deno.test("a second copy is found, in any file and in a mirror that differs", () => {
  const stem = stems()[0];
  const found = secondCopies(
    new Map([
      ["release.json", JSON.stringify(release)],
      ["lib/somewhere.ts", `const url = "${HOME.downloadUrl}";`],
      ["docs/other.md", `see https://${stem}/wiki`],
      ["README.md", `ok: ${HOME.repository}/issues\nstale: ${HOME.repository}-old/releases`],
      ["docs/install.md", `${installScriptUrl("0.2.0-rc.1")} and ${HOME.feature}:1`],
    ]),
  );
  equal(found.length, 3, found.join("\n"));
  ok(found[0]?.startsWith("lib/somewhere.ts:1: a second copy of the project's home"), found[0]);
  ok(found[1]?.startsWith("docs/other.md:1: a second copy"), found[1]);
  ok(
    present(found[2]).startsWith(`README.md:2: ${stem} in a location that is not release.json's`),
    found[2],
  );
  ok(allowedFiles().has("features/bot-bottle/bot-bottle-install.sh"));
});
