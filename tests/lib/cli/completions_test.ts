// `bot-bottle completions`: the scripts it prints, loaded into real bash,
// zsh and fish, completing command lines against a temporary HOME whose
// bottles the scripts ask the program for.

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../_helpers/cli.ts";
import {
  complete,
  programOnPath,
  type Shell,
  syntaxError,
  whyNoShell,
} from "../../_helpers/shell_completion.ts";
import { tempHome } from "../../_helpers/temp_home.ts";
import { present } from "../../_helpers/present.ts";

const SHELLS: readonly Shell[] = ["bash", "zsh", "fish"];
const noShell: Record<Shell, string | undefined> = {
  bash: await whyNoShell("bash"),
  zsh: await whyNoShell("zsh"),
  fish: await whyNoShell("fish"),
};
for (const shell of SHELLS) {
  if (noShell[shell]) console.error(`${shell} completion tests are ignored: ${noShell[shell]}`);
}

/** Declares a test that runs `shell`: ignored, with the reason, where it is missing. */
function shellTest(shell: Shell, name: string, fn: () => Promise<void>): void {
  const reason = noShell[shell];
  Deno.test({
    name: reason ? `${name} [ignored: ${reason}]` : name,
    ignore: reason !== undefined,
    fn,
  });
}

async function script(shell: Shell): Promise<string> {
  const run = await runCli(["completions", shell]);
  equal(run.code, 0, run.stderr);
  equal(run.stderr, "");
  return run.stdout;
}

/** The commands `bot-bottle --help` lists. */
async function helpCommands(): Promise<string[]> {
  const help = (await runCli(["--help"])).stdout;
  const section = present(help.split("Commands:\n")[1]).split("\n\n")[0];
  return present(section).split("\n").map((row) => present(row.trim().split(/\s+/)[0]));
}

/** The long options `bot-bottle <command> --help` lists. */
async function helpOptions(command: string): Promise<string[]> {
  const help = (await runCli([command, "--help"])).stdout;
  return [...help.matchAll(/^ {2}(?:-\w, | {4})(--[\w-]+)/gm)].map(([, option]) => present(option));
}

/** A temporary HOME with two bottles and a directory that is no bottle, and the program on PATH. */
async function world() {
  const home = await tempHome();
  const bin = await programOnPath();
  await home.writeBottle("dev-abc12");
  await home.writeBottle("web-7");
  await Deno.mkdir(join(home.root, "state", "Not_A_Slug"), { recursive: true });
  return {
    env: { ...home.env, PATH: `${bin.dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
    async [Symbol.asyncDispose]() {
      await bin[Symbol.asyncDispose]();
      await home[Symbol.asyncDispose]();
    },
  };
}

const sorted = (words: string[]) => [...words].sort();

for (const shell of SHELLS) {
  shellTest(shell, `completions ${shell} prints a script that ${shell} -n accepts`, async () => {
    equal(await syntaxError(shell, await script(shell)), undefined);
  });

  shellTest(
    shell,
    `${shell} completes "bot-bottle " to every command that --help lists`,
    async () => {
      await using env = await world();
      const candidates = await complete(shell, await script(shell), "bot-bottle ", env.env);
      const commands = await helpCommands();
      equal(commands.includes("completions"), true);
      deepStrictEqual(sorted(candidates), sorted(commands));
    },
  );

  shellTest(
    shell,
    `${shell} completes "bot-bottle commit --" to every option that commit --help lists`,
    async () => {
      await using env = await world();
      const candidates = await complete(
        shell,
        await script(shell),
        "bot-bottle commit --",
        env.env,
      );
      const options = await helpOptions("commit");
      equal(options.includes("--no-restart"), true);
      deepStrictEqual(sorted(candidates), sorted(options));
    },
  );

  shellTest(
    shell,
    `${shell} completes "bot-bottle commit " to the slugs of the bottles in HOME`,
    async () => {
      await using env = await world();
      const candidates = await complete(shell, await script(shell), "bot-bottle commit ", env.env);
      deepStrictEqual(sorted(candidates), ["dev-abc12", "web-7"]);
    },
  );

  shellTest(
    shell,
    `${shell} completes "bot-bottle start --backend " to the registry's backends`,
    async () => {
      await using env = await world();
      const registry = JSON.parse(
        await Deno.readTextFile(new URL("../../../registry.json", import.meta.url)),
      );
      const candidates = await complete(
        shell,
        await script(shell),
        "bot-bottle start --backend ",
        env.env,
      );
      deepStrictEqual(sorted(candidates), sorted(Object.keys(registry.backends)));
    },
  );
}

shellTest("bash", "bash offers options, not slugs, once commit has its slug", async () => {
  await using env = await world();
  const candidates = await complete(
    "bash",
    await script("bash"),
    "bot-bottle commit web-7 ",
    env.env,
  );
  equal(candidates.includes("--yes"), true, candidates.join(" "));
  equal(candidates.includes("dev-abc12"), false, candidates.join(" "));
});

shellTest("bash", "bash completes the value of commit --message to nothing", async () => {
  await using env = await world();
  deepStrictEqual(
    await complete("bash", await script("bash"), "bot-bottle commit --message ", env.env),
    [],
  );
});

for (const shell of SHELLS) {
  shellTest(shell, `${shell} completes no slugs, quietly, when the program fails`, async () => {
    await using home = await tempHome();
    await home.writeBottle("dev-abc12");
    // No bot-bottle on PATH: asking it for the slugs fails.
    const candidates = await complete(shell, await script(shell), "bot-bottle commit ", home.env);
    deepStrictEqual(candidates, []);
  });
}

Deno.test("completions --slugs prints the slugs that have state, one a line, and skips non-slugs", async () => {
  await using env = await world();
  const run = await runCli(["completions", "--slugs"], env.env);
  equal(run.code, 0, run.stderr);
  equal(run.stdout, "dev-abc12\nweb-7\n");
  equal(run.stderr, "");
});

Deno.test("completions --slugs without a state directory prints nothing and succeeds", async () => {
  await using home = await tempHome();
  const run = await runCli(["completions", "--slugs"], home.env);
  equal(run.code, 0, run.stderr);
  equal(run.stdout, "");
});

for (const args of [["completions"], ["completions", "tcsh"], ["completions", "bash", "zsh"]]) {
  Deno.test(`bot-bottle ${args.join(" ")} is a usage error naming the shells`, async () => {
    const run = await runCli(args);
    equal(run.code, 2);
    match(
      run.stderr,
      /^bot-bottle: error: completions takes one shell, bash, zsh, fish; got .*; run "bot-bottle completions --help" for usage\n$/,
    );
    equal(run.stdout, "");
  });
}
