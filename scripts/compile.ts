#!/usr/bin/env -S deno run --allow-all
/**
 * Compiles main.ts into a standalone `bot-bottle` binary with `deno compile`.
 *
 *   deno task compile        # dist/bot-bottle, for this machine
 *   deno task compile:all    # dist/bot-bottle-<target> for every release target, and
 *                            # dist/SHA256SUMS (`sha256sum -c SHA256SUMS` checks them)
 *
 * `--out-dir <dir>` writes elsewhere than dist/. The binary gets every
 * permission, as `deno run -A main.ts` does: it runs the backends' CLIs, reads
 * and writes the state directory and the files it is given, and reads the
 * environment. Every freezer module is in the static module graph of main.ts
 * (tests/registry_graph_test.ts), so nothing needs `--include`.
 *
 * `deno compile` embeds the program in `denort`, Deno's runtime without the
 * tooling, which it downloads from dl.deno.land for each target (and caches
 * in DENO_DIR). `DENORT_BIN=/path/to/denort` uses a local one instead; it is
 * the runtime of one platform, so it is used for this machine's target only.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";

/** The targets of a release, as `deno compile --target` names them. */
export const RELEASE_TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];

/** The permissions the binary runs with: all, as `deno run -A main.ts`. */
export const PERMISSIONS: readonly string[] = ["--allow-all"];

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

/**
 * Compiles main.ts for `target` into `output`.
 *
 * @param output The binary's path.
 * @param target A target triple (default: this machine's).
 * @throws {Error} When `deno compile` fails, with its output.
 */
export async function compile(output: string, target: string = Deno.build.target): Promise<void> {
  const env: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
  // DENORT_BIN is a runtime for this machine; another target's comes from dl.deno.land.
  if (target !== Deno.build.target) delete env.DENORT_BIN;
  const args = ["compile", ...PERMISSIONS, "--target", target, "--output", output, MAIN];
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr).trim();
    const hint =
      /dl\.deno\.land|dns error|Could not find denort|error sending request/i.test(stderr)
        ? `; deno compile needs its runtime (denort) for ${target}: ` +
          `let it reach dl.deno.land, or set DENORT_BIN=/path/to/denort (this machine's target only)`
        : "";
    throw new Error(`deno ${args.join(" ")} failed (${result.code})${hint}:\n${stderr}`);
  }
}

/**
 * Writes `SHA256SUMS` in `dir` for `files` (paths in `dir`), in the format
 * of `sha256sum`: `<hex>  <name>` a line.
 *
 * @param dir The directory of the files, where SHA256SUMS goes.
 * @param names The files' names.
 * @returns The path of SHA256SUMS.
 */
export async function writeSha256Sums(dir: string, names: readonly string[]): Promise<string> {
  const lines: string[] = [];
  for (const name of names) {
    const hash = createHash("sha256");
    using file = await Deno.open(join(dir, name));
    for await (const chunk of file.readable) hash.update(chunk);
    lines.push(`${hash.digest("hex")}  ${name}\n`);
  }
  const path = join(dir, "SHA256SUMS");
  await Deno.writeTextFile(path, lines.join(""));
  return path;
}

async function cli(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { all: { type: "boolean" }, "out-dir": { type: "string" } },
    strict: true,
  });
  const dir = values["out-dir"] ?? new URL("dist", ROOT).pathname;
  await Deno.mkdir(dir, { recursive: true });
  if (!values.all) {
    const output = join(dir, "bot-bottle");
    await compile(output);
    console.error(`compiled ${output} (${Deno.build.target})`);
    return;
  }
  // An old SHA256SUMS must never vouch for new binaries, even when a target fails.
  await Deno.remove(join(dir, "SHA256SUMS")).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const names: string[] = [];
  for (const target of RELEASE_TARGETS) {
    const output = join(dir, `bot-bottle-${target}`);
    await compile(output, target);
    names.push(basename(output));
    console.error(`compiled ${output}`);
  }
  console.error(`wrote ${await writeSha256Sums(dir, names)}`);
}

if (import.meta.main) {
  try {
    await cli(Deno.args);
  } catch (error) {
    console.error(`compile: error: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
