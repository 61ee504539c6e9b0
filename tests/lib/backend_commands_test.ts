import { deepStrictEqual, equal, match, rejects, throws } from "node:assert/strict";
import {
  BackendCommands,
  commandLabel,
  commandTimeouts,
  DEFAULT_LONG_TIMEOUT_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
} from "../../lib/registry/backend_commands.ts";
import {
  BackendError,
  BackendTimeoutError,
  BackendUnavailableError,
  BadInputError,
} from "../../lib/errors.ts";

// Literal templates: no value reaches the shell snippets below.
const TEMPLATES = {
  greet: ["printf", "%s|%s", "hello", "{container}"],
  fail: ["sh", "-c", "echo partial; echo boom >&2; exit 3"],
  failQuietly: ["sh", "-c", "exit 4"],
  failToStdout: ["sh", "-c", "echo 'first'; echo 'last words  '; exit 1"],
  missing: ["bot-bottle-no-such-executable", "pack", "{path}"],
  readsStdin: ["sh", "-c", "cat; echo done"],
};

Deno.test("run() returns the argv, exit status and output of a command that succeeds", async () => {
  const commands = new BackendCommands("fake", TEMPLATES);
  const result = await commands.run("greet", { container: "bot-bottle-dev-abc12" });
  deepStrictEqual(result, {
    argv: ["printf", "%s|%s", "hello", "bot-bottle-dev-abc12"],
    exitCode: 0,
    stdout: "hello|bot-bottle-dev-abc12",
    stderr: "",
  });
});

Deno.test("run() gives the command no standard input", async () => {
  const commands = new BackendCommands("fake", TEMPLATES);
  equal((await commands.run("readsStdin")).stdout, "done\n");
});

Deno.test("run() throws BackendError with argv, exit status and output on a non-zero exit", async () => {
  const commands = new BackendCommands("fake", TEMPLATES);
  await rejects(commands.run("fail"), (error: unknown) => {
    if (!(error instanceof BackendError) || error instanceof BackendUnavailableError) return false;
    equal(error.name, "BackendError");
    equal(error.message, '"sh" failed (exit status 3): boom');
    equal(error.exitCode, 3);
    equal(error.stderr, "boom\n");
    equal(error.stdout, "partial\n");
    deepStrictEqual(error.argv, TEMPLATES.fail);
    equal(error.backend, "fake");
    equal(error.command, "fail");
    return true;
  });
});

Deno.test("run() quotes the last line of stdout, or says no output, when stderr is empty", async () => {
  const commands = new BackendCommands("fake", TEMPLATES);
  await rejects(commands.run("failToStdout"), {
    name: "BackendError",
    message: '"sh" failed (exit status 1): last words',
  });
  await rejects(commands.run("failQuietly"), {
    name: "BackendError",
    message: '"sh" failed (exit status 4): no output',
  });
});

Deno.test("run() throws BackendUnavailableError when the executable is not installed", async () => {
  const commands = new BackendCommands("fake", TEMPLATES);
  await rejects(commands.run("missing", { path: "/tmp/x" }), (error: unknown) => {
    if (!(error instanceof BackendUnavailableError)) return false;
    equal(error instanceof BackendError, true);
    equal(
      error.message,
      '"bot-bottle-no-such-executable" is not installed or not on PATH; the "fake" backend needs it',
    );
    equal(error.exitCode, undefined);
    deepStrictEqual(error.argv, ["bot-bottle-no-such-executable", "pack", "/tmp/x"]);
    return true;
  });
});

Deno.test("run() passes every command to onRun, shell-quoted, before running it", async () => {
  const seen: string[] = [];
  const commands = new BackendCommands("fake", TEMPLATES, { onRun: (line) => seen.push(line) });
  await commands.run("greet", { container: "bot-bottle-a" });
  await rejects(commands.run("fail"), BackendError);
  await rejects(commands.run("missing", { path: "/tmp/a b" }), BackendUnavailableError);
  deepStrictEqual(seen, [
    "printf '%s|%s' hello bot-bottle-a",
    "sh -c 'echo partial; echo boom >&2; exit 3'",
    "bot-bottle-no-such-executable pack '/tmp/a b'",
  ]);
});

Deno.test("run() checks values before running anything", async () => {
  const seen: string[] = [];
  const commands = new BackendCommands("fake", TEMPLATES, { onRun: (line) => seen.push(line) });
  await rejects(commands.run("greet", { container: "-rm" }), BadInputError);
  await rejects(commands.run("greet", {}), TypeError);
  deepStrictEqual(seen, []);
});

Deno.test("has() and render() know only the backend's own commands", () => {
  const commands = new BackendCommands("fake", TEMPLATES);
  equal(commands.backend, "fake");
  equal(commands.has("greet"), true);
  equal(commands.has("commit"), false);
  equal(commands.has("toString"), false);
  deepStrictEqual(commands.render("greet", { container: "c" }), ["printf", "%s|%s", "hello", "c"]);
  throws(() => commands.render("commit"), {
    name: "TypeError",
    message: 'backend "fake" has no command "commit"',
  });
});

Deno.test("run() of an undeclared command throws TypeError", async () => {
  await rejects(new BackendCommands("fake", {}).run("commit"), TypeError);
});

Deno.test("commandLabel() keeps the executable and up to two leading subcommands", () => {
  equal(
    commandLabel(["smolvm", "pack", "create", "--from-vm", "{container}"]),
    "smolvm pack create",
  );
  equal(commandLabel(["docker", "commit", "--change", "LABEL x", "{container}"]), "docker commit");
  equal(commandLabel(["docker", "image", "prune", "--force"]), "docker image prune");
  equal(commandLabel(["container", "ls", "--all"]), "container ls");
  equal(commandLabel(["docker", "{container}", "commit"]), "docker");
  equal(commandLabel(["sh", "-c", "exit 3"]), "sh");
  equal(commandLabel(["docker"]), "docker");
  equal(commandLabel(["a", "b", "c", "d"]), "a b c");
});

Deno.test("commandLabel() names the failing command in BackendError messages", async () => {
  const commands = new BackendCommands("fake", { pack: ["false", "pack", "create", "--now"] });
  await rejects(commands.run("pack"), (error: unknown) => {
    if (!(error instanceof BackendError)) return false;
    match(error.message, /^"false pack create" failed \(exit status 1\): no output$/);
    return true;
  });
});

// A command that hangs: it records its pid, then sleeps far past any timeout here.
const HANGING = {
  hang: ["sh", "-c", 'echo $$ > "$0"; exec sleep 60', "{path}"],
  slowCopy: ["sh", "-c", 'echo $$ > "$0"; exec sleep 60', "{path}"],
};

async function alive(pidFile: string): Promise<boolean> {
  const pid = (await Deno.readTextFile(pidFile)).trim();
  const probe = await new Deno.Command("kill", { args: ["-0", pid], stderr: "null" }).output();
  return probe.success;
}

Deno.test("run() stops a command that outlives its timeout and names the command and the variable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const commands = new BackendCommands("fake", HANGING, {
      timeoutMs: 300,
      longTimeoutMs: 60_000,
      longRunning: ["slowCopy"],
    });
    const started = performance.now();
    await rejects(commands.run("hang", { path: `${dir}/pid` }), (error: unknown) => {
      if (!(error instanceof BackendTimeoutError)) return false;
      equal(
        error.message,
        '"sh" did not finish within 0.3 s and was stopped; the fake backend ' +
          "may be hung or overloaded: check it, or allow more time with BOT_BOTTLE_TIMEOUT=<seconds>",
      );
      equal(error.exitCode, undefined);
      equal(error.timeoutMs, 300);
      equal(error.command, "hang");
      return true;
    });
    // It gave up long before the command's own 60 s, and the command is gone.
    equal(performance.now() - started < 30_000, true);
    equal(await alive(`${dir}/pid`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run() gives the registry's long-running commands the long timeout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const commands = new BackendCommands("fake", HANGING, {
      timeoutMs: 60_000,
      longTimeoutMs: 300,
      longRunning: ["slowCopy"],
    });
    await rejects(commands.run("slowCopy", { path: `${dir}/pid` }), {
      name: "BackendTimeoutError",
      message: /within 0\.3 s .*BOT_BOTTLE_LONG_TIMEOUT=<seconds>$/,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("commandTimeouts() reads whole seconds from the environment, and refuses anything else", () => {
  const env = (values: Record<string, string>) => ({ get: (name: string) => values[name] });
  deepStrictEqual(commandTimeouts(env({})), {
    timeoutMs: DEFAULT_TIMEOUT_SECONDS * 1000,
    longTimeoutMs: DEFAULT_LONG_TIMEOUT_SECONDS * 1000,
  });
  deepStrictEqual(
    commandTimeouts(env({ BOT_BOTTLE_TIMEOUT: "5", BOT_BOTTLE_LONG_TIMEOUT: "60" })),
    { timeoutMs: 5000, longTimeoutMs: 60_000 },
  );
  for (const bad of ["0", "-1", "1.5", "ten", " 5"]) {
    throws(() => commandTimeouts(env({ BOT_BOTTLE_TIMEOUT: bad })), {
      name: "BadInputError",
      message: `BOT_BOTTLE_TIMEOUT must be a whole number of seconds of at least 1, not ${
        JSON.stringify(bad)
      }`,
    });
  }
});

const PIPED = {
  produce: ["printf", "%s\\n", "{args...}", "second line"],
  count: ["wc", "-l"],
  produceAndFail: ["sh", "-c", "echo some; echo broke >&2; exit 5"],
};

Deno.test("runPiped() feeds each command's output to the next", async () => {
  const seen: string[] = [];
  const commands = new BackendCommands("fake", PIPED, { onRun: (line) => seen.push(line) });
  const result = await commands.runPiped(["produce", "count"], { args: ["a b"] });
  equal(result.stdout.trim(), "2");
  deepStrictEqual(result.argv, ["wc", "-l"]);
  deepStrictEqual(seen, ["printf '%s\\n' 'a b' 'second line' | wc -l"]);
});

Deno.test("runPiped() fails when an earlier command fails, even if the last one succeeds", async () => {
  const commands = new BackendCommands("fake", PIPED);
  await rejects(commands.runPiped(["produceAndFail", "count"]), {
    name: "BackendError",
    message: '"sh | wc" failed (exit status 5): broke',
    command: "produceAndFail | count",
  });
});

Deno.test("run() quotes the reason, not a closing pointer to the CLI's help", async () => {
  const commands = new BackendCommands("fake", {
    helpful: [
      "sh",
      "-c",
      "echo 'docker: Error response from daemon: no such image' >&2; " +
      "echo \"Run 'docker run --help' for more information\" >&2; exit 125",
    ],
  });
  await rejects(commands.run("helpful"), {
    name: "BackendError",
    message: '"sh" failed (exit status 125): docker: Error response from daemon: no such image',
  });
});
