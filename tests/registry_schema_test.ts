import { deepStrictEqual, equal } from "node:assert/strict";
import { registryJsonSchema } from "../scripts/emit_registry_schema.ts";

const SCHEMA_URL = new URL("../registry.schema.json", import.meta.url);
const REGISTRY_URL = new URL("../registry.json", import.meta.url);

Deno.test("registry.schema.json matches the loader's schema (run deno task schema when not)", async () => {
  const onDisk = await Deno.readTextFile(SCHEMA_URL);
  const emitted = registryJsonSchema();
  deepStrictEqual(JSON.parse(onDisk), JSON.parse(emitted));
  equal(onDisk, emitted);
});

Deno.test("registry.json points editors at ./registry.schema.json", async () => {
  const registry = JSON.parse(await Deno.readTextFile(REGISTRY_URL));
  equal(registry.$schema, "./registry.schema.json");
});
