import { deepStrictEqual, equal, match, throws } from "node:assert/strict";
import { $ } from "dax";
import { BadInputError } from "../../lib/errors.ts";
import { placeholdersOf, renderTemplate, templateProblem } from "../../lib/registry/template.ts";

// Absolute paths are the most permissive kind: anything that starts with "/"
// and holds no NUL. Each of these would split, inject or glob if it reached a
// shell as text.
const HOSTILE_PATHS = [
  "/tmp/a b",
  "/tmp/$(id)",
  "/tmp/`id`",
  "/tmp/x;rm -rf /",
  "/tmp/x && echo pwned",
  "/tmp/x | cat /etc/passwd",
  "/tmp/new\nline",
  "/tmp/'q\"",
  "/tmp/*",
  "/tmp/-rf",
  "/tmp/$HOME",
  "/tmp/x > /tmp/out",
  "/",
];

Deno.test("renderTemplate() keeps each hostile path verbatim in exactly one argument", () => {
  const template = ["tar", "-C", "{path}", "--file={path}", "-f", "x"];
  for (const value of HOSTILE_PATHS) {
    const argv = renderTemplate(template, { path: value });
    equal(argv.length, template.length, JSON.stringify(value));
    deepStrictEqual(argv, ["tar", "-C", value, `--file=${value}`, "-f", "x"]);
  }
});

Deno.test("renderTemplate() output runs through dax as one argument per element", async () => {
  for (const value of HOSTILE_PATHS) {
    const argv = renderTemplate(["printf", "[%s]", "{path}"], { path: value });
    const output = await $`${argv}`.stdin("null").stdout("piped").stderr("piped").noThrow();
    equal(output.code, 0, `${JSON.stringify(value)}: ${output.stderr}`);
    equal(output.stdout, `[${value}]`);
  }
});

Deno.test("renderTemplate() output with a hostile path reaches argv of a real process intact", async () => {
  // `printf '%s\0'` prints one NUL-terminated record per argument it was given.
  for (const value of HOSTILE_PATHS) {
    const argv = renderTemplate(["printf", "%s\\0", "{path}", "{path}"], { path: value });
    const output = await $`${argv}`.stdin("null").stdout("piped").noThrow();
    deepStrictEqual(output.stdout.split("\0"), [value, value, ""], JSON.stringify(value));
  }
});

Deno.test("renderTemplate() rejects values of the wrong kind with BadInputError", () => {
  const cases: [string, Record<string, string>][] = [
    ["{container}", { container: "-rm" }],
    ["{container}", { container: "a b" }],
    ["{container}", { container: "" }],
    ["{container}", { container: "$(id)" }],
    ["{container}", { container: "x".repeat(129) }],
    ["{slug}", { slug: "../x" }],
    ["{slug}", { slug: "" }],
    ["{slug}", { slug: "dev;id" }],
    ["{image}", { image: "Upper/Case" }],
    ["{image}", { image: "--help" }],
    ["{image}", { image: "img:tag with space" }],
    ["{path}", { path: "relative/path" }],
    ["{path}", { path: "" }],
    ["{path}", { path: "-rf" }],
    ["{path}", { path: "/a\0b" }],
  ];
  for (const [placeholder, values] of cases) {
    const value = Object.values(values)[0];
    throws(() => renderTemplate(["tool", placeholder], values), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(error.message.startsWith(JSON.stringify(value)), true, error.message);
      match(error.message, new RegExp(`as \\${placeholder.slice(0, -1)}\\} requires`));
      return true;
    }, `${placeholder} = ${JSON.stringify(value)}`);
  }
});

Deno.test("renderTemplate() accepts values of the right kind", () => {
  deepStrictEqual(
    renderTemplate(["docker", "commit", "{container}", "{image}"], {
      container: "bot-bottle-dev-abc12",
      image: "bot-bottle-committed-dev-abc12:latest",
    }),
    ["docker", "commit", "bot-bottle-dev-abc12", "bot-bottle-committed-dev-abc12:latest"],
  );
  deepStrictEqual(
    renderTemplate(["x", "{image}"], { image: `localhost:5000/team/app@sha256:${"a".repeat(64)}` }),
    ["x", `localhost:5000/team/app@sha256:${"a".repeat(64)}`],
  );
});

Deno.test("renderTemplate() throws TypeError for an unknown placeholder", () => {
  throws(() => renderTemplate(["tool", "{owner}"], { owner: "root" }), {
    name: "TypeError",
    message: "unknown placeholder {owner}",
  });
});

Deno.test("renderTemplate() throws TypeError when a placeholder has no value", () => {
  throws(() => renderTemplate(["tool", "{slug}", "{container}"], { slug: "dev-abc12" }), {
    name: "TypeError",
    message: "no value for placeholder {container}",
  });
});

Deno.test("renderTemplate() ignores values for placeholders the template does not use", () => {
  deepStrictEqual(renderTemplate(["tool", "{slug}"], { slug: "a", path: "relative" }), [
    "tool",
    "a",
  ]);
});

Deno.test("renderTemplate() leaves Go templates as literal text", () => {
  const template = [
    "docker",
    "inspect",
    "--format",
    "{{.State.Status}}",
    "{{slug}}",
    "{container}",
  ];
  deepStrictEqual(placeholdersOf(template), ["container"]);
  deepStrictEqual(renderTemplate(template, { container: "bot-bottle-a" }), [
    "docker",
    "inspect",
    "--format",
    "{{.State.Status}}",
    "{{slug}}",
    "bot-bottle-a",
  ]);
});

Deno.test("renderTemplate() renders a placeholder embedded inside one element", () => {
  const template = ["docker", "image", "prune", "--filter", "label=bot-bottle.slug={slug}"];
  const argv = renderTemplate(template, { slug: "dev-abc12" });
  equal(argv.length, template.length);
  equal(argv[4], "label=bot-bottle.slug=dev-abc12");
  deepStrictEqual(renderTemplate(["x", "{slug}:{slug}"], { slug: "a" }), ["x", "a:a"]);
});

Deno.test("renderTemplate() does not expand placeholders that appear inside a value", () => {
  deepStrictEqual(renderTemplate(["x", "{path}"], { path: "/tmp/{slug}", slug: "a" }), [
    "x",
    "/tmp/{slug}",
  ]);
  deepStrictEqual(renderTemplate(["x", "{path}"], { path: "/tmp/$&$1$$" }), ["x", "/tmp/$&$1$$"]);
});

Deno.test("placeholdersOf() lists each placeholder once in order of first use", () => {
  deepStrictEqual(
    placeholdersOf(["docker", "commit", "LABEL x={slug}", "{container}", "{image}", "{slug}"]),
    ["slug", "container", "image"],
  );
  deepStrictEqual(placeholdersOf(["docker", "ps"]), []);
  deepStrictEqual(placeholdersOf(["{}", "{1x}", "{ slug }", "{a-b}"]), []);
});

Deno.test("renderTemplate() does not take Object.prototype names for placeholders or values", () => {
  for (const name of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
    throws(() => renderTemplate(["x", `{${name}}`], {}), {
      name: "TypeError",
      message: `unknown placeholder {${name}}`,
    });
  }
  throws(() => renderTemplate(["x", "{slug}"], Object.create({ slug: "a" })), {
    name: "TypeError",
    message: "no value for placeholder {slug}",
  });
});

Deno.test("renderTemplate() repeats a {name...} element once per value, each one argument", () => {
  const template = ["docker", "run", "--env={env...}", "{flags...}", "{image}", "{args...}"];
  deepStrictEqual(
    renderTemplate(template, {
      env: ["A=1", "B=two words; $(id)"],
      flags: ["--tty"],
      image: "busybox:latest",
      args: ["sh", "-c", "echo 'hi'\nexit 3"],
    }),
    [
      "docker",
      "run",
      "--env=A=1",
      "--env=B=two words; $(id)",
      "--tty",
      "busybox:latest",
      "sh",
      "-c",
      "echo 'hi'\nexit 3",
    ],
  );
  deepStrictEqual(
    renderTemplate(template, { env: [], flags: [], image: "busybox:latest", args: [] }),
    ["docker", "run", "busybox:latest"],
  );
});

Deno.test("renderTemplate() checks every list value's kind and needs a list for {name...}", () => {
  throws(() => renderTemplate(["x", "--env={env...}"], { env: ["A=1", "=oops"] }), BadInputError);
  throws(() => renderTemplate(["x", "{flags...}"], { flags: ["--privileged"] }), BadInputError);
  throws(() => renderTemplate(["x", "--volume={volume...}"], { volume: ["-v:/x"] }), BadInputError);
  throws(() => renderTemplate(["x", "--env={env...}"], { env: "A=1" }), TypeError);
  throws(() => renderTemplate(["x", "{image}"], { image: ["a:b"] }), TypeError);
});

Deno.test("templateProblem() rejects mixed list elements and a placeholder used both ways", () => {
  equal(templateProblem(["docker", "--env={env...}", "{image}"]), undefined);
  match(templateProblem(["docker", "{env...}={image}"])!, /mixes a list placeholder/);
  match(templateProblem(["docker", "{env}", "{env...}"])!, /both as one value and as a list/);
  match(templateProblem(["{image}", "x"])!, /the executable must be a fixed name/);
});
