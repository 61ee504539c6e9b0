// Publishing to JSR: `deno publish --dry-run` (which runs offline) accepts
// the package as deno.json declares it, and the package holds the library
// and the CLI (and its LICENSE) but nothing that only develops, tests or
// releases them.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { present } from "./_helpers/present.ts";

const ROOT = new URL("../", import.meta.url);

/** What never goes into the package: development, tests, CI, releases, build output. */
const NOT_PUBLISHED = [
  "tests/",
  "bench/",
  "scripts/",
  "docs/",
  ".ci/",
  ".github/",
  "features/",
  "dist/",
  "release.json",
];

/** Runs `deno publish --dry-run`; returns its status, output and the files it would publish. */
async function dryRun() {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  const files = [...text.matchAll(/^\s+(file:\/\/\S+) \(/gm)].map((match) =>
    present(match[1]).slice(ROOT.href.length)
  );
  return { code: output.code, text, files };
}

Deno.test("deno publish --dry-run accepts the package, with the library and the CLI", async () => {
  const run = await dryRun();
  equal(run.code, 0, run.text);
  ok(
    run.text.includes(`Simulating publish of ${denoJson.name}@${denoJson.version} with files:`),
    run.text,
  );
  for (
    const file of [
      "mod.ts",
      "main.ts",
      "registry.json",
      "backends/docker.ts",
      "lib/cli/command.ts",
      "LICENSE",
    ]
  ) {
    ok(run.files.includes(file), `${file} is not published:\n${run.files.join("\n")}`);
  }
  const stray = run.files.filter((file) => NOT_PUBLISHED.some((dir) => file.startsWith(dir)));
  deepStrictEqual(stray, [], "published files that only develop, test or release the package");
});

Deno.test("the package is MIT-licensed, with the licence text beside it", async () => {
  equal(denoJson.license, "MIT");
  const licence = await Deno.readTextFile(new URL("LICENSE", ROOT));
  ok(licence.startsWith("MIT License\n\nCopyright (c) 2026 the bot-bottle authors\n"), licence);
});

Deno.test("deno.json excludes from the package every directory that is not the package", () => {
  const excluded = denoJson.publish.exclude;
  const missing = NOT_PUBLISHED.filter((dir) => !excluded.includes(dir));
  deepStrictEqual(missing, [], `add them to "publish.exclude" in deno.json`);
});
