#!/usr/bin/env -S deno run
/**
 * The project's home: where its releases, installer and devcontainer Feature
 * are published. `release.json` is the one place these locations are written;
 * this module reads it for the tests and the release workflow, and knows the
 * files that must show them literally (the installer, which runs without
 * Deno, and the docs), which `tests/home_test.ts` checks against it, along
 * with the absence of any other copy in the tree.
 *
 * A fork or a mirror edits `release.json`, then runs
 * `./scripts/deno test -A tests/home_test.ts`, which names every line to
 * change. The release workflow runs
 *
 *   deno run scripts/home.ts check-repository "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY"
 *
 * so that a release is only published where `release.json` says it lives.
 *
 * @module
 */

import release from "../release.json" with { type: "json" };
import { VERSION } from "../lib/version.ts";

/** The locations in `release.json`, one per kind. */
export interface Home {
  /** The repository's web page, e.g. `https://github.com/o/r` (its releases and issues are below it). */
  repository: string;
  /** The release download base: `<downloadUrl>/v<version>/<asset>` and `.../SHA256SUMS`. */
  downloadUrl: string;
  /** The raw `install.sh` of a release, with `{version}` where the version goes. */
  installScriptUrl: string;
  /** The devcontainer Feature's OCI reference, without its major-version tag. */
  feature: string;
}

/** Why `home` is not usable, or `undefined`. */
export function homeProblem(home: Record<string, unknown>): string | undefined {
  for (const key of ["repository", "downloadUrl", "installScriptUrl"] as const) {
    const value = home[key];
    if (typeof value !== "string" || !/^https:\/\/[^\s/]+\/\S*[^/\s]$/.test(value)) {
      return `release.json: "${key}" must be an https URL without a trailing slash`;
    }
  }
  if (!String(home.installScriptUrl).includes("{version}")) {
    return `release.json: "installScriptUrl" must say where the version goes, as {version}`;
  }
  if (typeof home.feature !== "string" || !/^[\w.-]+(:\d+)?(\/[\w.-]+)+$/.test(home.feature)) {
    return `release.json: "feature" must be an OCI reference without a tag, e.g. ghcr.io/owner/name/feature`;
  }
  return undefined;
}

const problem = homeProblem(release);
if (problem) throw new Error(problem);

/** The project's home, from `release.json`. */
export const HOME: Home = release;

/** The one-line install command's URL of `version`'s installer. */
export function installScriptUrl(version: string = VERSION): string {
  return HOME.installScriptUrl.replaceAll("{version}", version);
}

/** The devcontainer.json line that pins the Feature to `version`. */
export function featureSnippet(version: string = VERSION): string {
  return `"${HOME.feature}:1": { "version": "${version}" }`;
}

/**
 * The files that must show the locations literally, each with what it must
 * hold, a string listed twice where it is shown twice: the installer carries the download base and the repository in one
 * marked line each (it runs as `curl … | sh`, with nothing to read them from),
 * and the docs show the commands a user copies.
 */
export function mirrors(version: string = VERSION): Record<string, string[]> {
  const host = HOME.feature.split("/")[0];
  const namespace = HOME.feature.split("/").slice(1, -1).join("/");
  const installer = [
    `\nREPOSITORY=${HOME.repository} # release.json "repository"\n`,
    `\nDEFAULT_DOWNLOAD_URL=${HOME.downloadUrl} # release.json "downloadUrl"\n`,
  ];
  return {
    "install.sh": installer,
    "features/bot-bottle/bot-bottle-install.sh": installer,
    "features/bot-bottle/devcontainer-feature.json": [
      `"documentationURL": "${HOME.repository}/tree/main/features/bot-bottle"`,
      `empty: ${HOME.downloadUrl}."`,
    ],
    "features/bot-bottle/README.md": [
      `[bot-bottle](${HOME.repository})`,
      featureSnippet(version),
      `empty for \`${HOME.downloadUrl}\``,
    ],
    "README.md": [
      `curl -fsSL ${installScriptUrl(version)} | sh -s -- --version ${version}`,
      featureSnippet(version),
    ],
    "docs/install.md": [
      `curl -fsSL ${installScriptUrl(version)} | sh -s -- --version ${version}`,
      `curl -fsSL ${installScriptUrl(version)} | sh -s -- --version ${version}`,
      `wget -qO- ${installScriptUrl(version)} | sh -s -- --version ${version}`,
      `curl -fsSL ${installScriptUrl(version)} | sudo sh -s -- --version ${version}`,
      `\`${HOME.downloadUrl}/vX.Y.Z/\``,
      `\`BOT_BOTTLE_DOWNLOAD_URL\` replaces \`${HOME.downloadUrl}\``,
      featureSnippet(version),
      featureSnippet(version),
      `--registry ${host} --namespace ${namespace}`,
    ],
  };
}

/** The files allowed to hold the locations: `release.json` and the mirrors. */
export function allowedFiles(): Set<string> {
  return new Set(["release.json", ...Object.keys(mirrors())]);
}

/**
 * What a copy of a location looks like: each location's host and first two
 * path segments (the owner and the name), e.g. `github.com/o/r`.
 */
export function stems(): string[] {
  const found = [HOME.repository, HOME.downloadUrl, HOME.installScriptUrl, HOME.feature].map(
    (location) => location.replace(/^https:\/\//, "").split("/").slice(0, 3).join("/"),
  );
  return [...new Set(found)];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The locations as they may appear in a mirror, longest first. */
function allowedValues(): RegExp {
  const values = [
    escapeRegExp(HOME.installScriptUrl).replace(
      escapeRegExp("{version}"),
      "(?:\\d+\\.\\d+\\.\\d+(?:-[\\w.]+)?|X\\.Y\\.Z)",
    ),
    ...[HOME.downloadUrl, HOME.repository, HOME.feature].sort((a, b) => b.length - a.length)
      .map(escapeRegExp),
  ];
  return new RegExp(`(?:${values.join("|")})(?![\\w-])`, "g");
}

/**
 * The lines of `files` (path → text) that hold a copy of a location they
 * should not: any copy in a file that is not `release.json` or a mirror, and
 * in a mirror anything that looks like a location but is not one of
 * `release.json`'s.
 *
 * @returns One `path:line: what is wrong` string per line.
 */
export function secondCopies(files: Map<string, string>): string[] {
  const allowed = allowedFiles();
  const found: string[] = [];
  for (const [path, text] of files) {
    if (path === "release.json") continue;
    text.split("\n").forEach((line, index) => {
      const rest = allowed.has(path) ? line.replace(allowedValues(), "") : line;
      const stem = stems().find((candidate) => rest.includes(candidate));
      if (stem === undefined) return;
      found.push(
        allowed.has(path)
          ? `${path}:${index + 1}: ${stem} in a location that is not release.json's; ` +
            `write release.json's value`
          : `${path}:${index + 1}: a second copy of the project's home (${stem}); ` +
            `read it from scripts/home.ts (HOME), or, if the file cannot, add it to mirrors()`,
      );
    });
  }
  return found;
}

/**
 * Why a release from `repositoryUrl` (`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY`)
 * must not be published, or `undefined` when it is the home.
 */
export function repositoryProblem(repositoryUrl: string | undefined): string | undefined {
  const here = (repositoryUrl ?? "").replace(/\/+$/, "");
  if (here.toLowerCase() === HOME.repository.toLowerCase()) return undefined;
  return `this repository is ${JSON.stringify(here)}, but release.json names ` +
    `${HOME.repository} as the project's home, so the installer and the docs would point ` +
    `there; change release.json to this repository (docs/install.md, "Forks and mirrors") first`;
}

if (import.meta.main) {
  const problem = Deno.args.length === 2 && Deno.args[0] === "check-repository"
    ? repositoryProblem(Deno.args[1])
    : "usage: deno run scripts/home.ts check-repository <server>/<owner>/<name>";
  if (problem) {
    console.error(`home: error: ${problem}`);
    Deno.exit(1);
  }
  console.error(`release.json names this repository, ${HOME.repository}, as the project's home`);
}
