import { deepStrictEqual, equal, match, rejects, throws } from "node:assert/strict";
import { BackendCommands, commandLabel } from "../../lib/backend_commands.ts";
import { BackendError, BackendUnavailableError, BadInputError } from "../../lib/errors.ts";

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
