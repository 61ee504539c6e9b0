// docs/reliability.md names, row by row, the test that injects each fault:
// this keeps the table true to the tests.

import { deepStrictEqual, ok } from "node:assert/strict";
import { present } from "../_helpers/present.ts";

const ROOT = new URL("../../", import.meta.url);
const REPORT = await Deno.readTextFile(new URL("docs/reliability.md", ROOT));

/** The `file` › "name" citations of the table's test column. */
function citations(): { file: string; name: string }[] {
  const rows = REPORT.split("\n").filter((line) =>
    line.startsWith("| ") && !line.startsWith("| -")
  );
  return rows.slice(1).flatMap((row) => {
    const test = row.split(" | ")[2] ?? "";
    // A test file, or a module that declares tests for others (tests/backends/contract.ts).
    return [...test.matchAll(/`([^`]+\.ts)` › "([^"]+)"/g)].map(([, file, name]) => ({
      file: present(file),
      name: present(name),
    }));
  });
}

Deno.test("every test docs/reliability.md names exists in the file it names", async () => {
  const cited = citations();
  ok(cited.length >= 40, `only ${cited.length} tests are cited`);
  const missing: string[] = [];
  for (const { file, name } of cited) {
    const source = await Deno.readTextFile(new URL(file, ROOT)).catch(() => "");
    if (!source.includes(name)) missing.push(`${file} › "${name}"`);
  }
  deepStrictEqual(missing, []);
});

Deno.test("docs/reliability.md cites every reliability test file", async () => {
  const cited = new Set(citations().map((citation) => citation.file));
  const files = [];
  for await (const entry of Deno.readDir(new URL("tests/reliability/", ROOT))) {
    if (entry.name.endsWith("_test.ts") && entry.name !== "report_test.ts") {
      files.push(`tests/reliability/${entry.name}`);
    }
  }
  deepStrictEqual(files.filter((file) => !cited.has(file)), []);
});
