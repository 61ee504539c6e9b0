// Property-based tests of template rendering (lib/registry/template.ts), with
// fast-check: a value is one argument, verbatim, or a BadInputError.

import { deepStrictEqual, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import { BackendCommands } from "../../lib/registry/backend_commands.ts";
import { BadInputError } from "../../lib/errors.ts";
import { KINDS, PLACEHOLDERS, renderTemplate } from "../../lib/registry/template.ts";
import { present } from "../_helpers/present.ts";

/** Characters that split, quote, expand or inject in a shell or in String.replace. */
const HOSTILE = [
  ..." '\"$`\\\n\r\t;|&*?~<>(){}[]=:/-#!%",
  "$&",
  "$1",
  "$'",
  "$`",
  "$$",
  "{path}",
  "{args...}",
  "{{.ID}}",
  "--",
  "..",
  "é",
  "😀",
  "\u202e",
  "\u00a0",
];

/** Text without NUL or lone surrogates: anything a process can receive as an argument. */
const argText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...HOSTILE),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((char) => char !== "\0"),
  ),
  maxLength: 40,
});

/** Any text at all: NUL and lone surrogates too. */
const anyText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...HOSTILE, "\0", "\ud800", "\udfff"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});

/** Values of the kinds that accept free text, each made to be accepted. */
const ACCEPTED = {
  args: argText,
  path: argText.map((text) => `/${text}`),
  env: fc.tuple(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/), argText)
    .map(([name, value]) => `${name}=${value}`),
  label: fc.tuple(fc.stringMatching(/^[A-Za-z0-9][^=\0]{0,8}$/), argText)
    .map(([key, value]) => `${key}=${value}`),
};

Deno.test("every placeholder renders a value it accepts as one verbatim argument, and refuses any other with BadInputError", () => {
  const names = Object.keys(PLACEHOLDERS);
  fc.assert(
    fc.property(fc.constantFrom(...names), anyText, (name, value) => {
      const template = ["prog", `{${name}}`, `--opt={${name}}`, "end"];
      if (present(PLACEHOLDERS[name]).accepts(value)) {
        deepStrictEqual(renderTemplate(template, { [name]: value }), [
          "prog",
          value,
          `--opt=${value}`,
          "end",
        ]);
      } else {
        throws(() => renderTemplate(template, { [name]: value }), BadInputError);
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("free-text values keep the argument count and appear verbatim, one element each", () => {
  fc.assert(
    fc.property(
      fc.array(ACCEPTED.args, { maxLength: 5 }),
      ACCEPTED.path,
      ACCEPTED.env,
      ACCEPTED.label,
      (args, path, env, label) => {
        const template = [
          "prog",
          "{path}",
          "-v={path}:{path}",
          "{env}",
          "--label={label}",
          "{args...}",
          "tail",
        ];
        const argv = renderTemplate(template, { args, path, env, label });
        deepStrictEqual(argv, [
          "prog",
          path,
          `-v=${path}:${path}`,
          env,
          `--label=${label}`,
          ...args,
          "tail",
        ]);
        equal(argv.length, template.length - 1 + args.length);
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("a list placeholder refuses a list with any value of the wrong kind, whatever the others", () => {
  fc.assert(
    fc.property(fc.array(anyText, { minLength: 1, maxLength: 6 }), (values) => {
      const template = ["prog", "--env={env...}"];
      if (values.every(KINDS.environmentVariable.accepts)) {
        deepStrictEqual(
          renderTemplate(template, { env: values }),
          ["prog", ...values.map((value) => `--env=${value}`)],
        );
      } else {
        throws(() => renderTemplate(template, { env: values }), BadInputError);
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("a rendered argv reaches a real process through dax exactly as rendered", async () => {
  // coreutils printf prints each argument it received, verbatim, ending in NUL (which no
  // accepted value holds). (Deno itself is no such witness: it drops an argument's trailing "\r".)
  const commands = new BackendCommands("property", {
    printArgv: ["/usr/bin/printf", "%s\\0", "{path}", "{env}", "--label={label}", "{args...}"],
  });
  const prefix = 2;
  await fc.assert(
    fc.asyncProperty(
      fc.array(ACCEPTED.args, { maxLength: 4 }),
      ACCEPTED.path,
      ACCEPTED.env,
      ACCEPTED.label,
      async (args, path, env, label) => {
        const result = await commands.run("printArgv", { args, path, env, label });
        deepStrictEqual(result.argv.slice(prefix), [path, env, `--label=${label}`, ...args]);
        deepStrictEqual(result.stdout.split("\0").slice(0, -1), result.argv.slice(prefix));
      },
    ),
    { numRuns: 25 },
  );
});
