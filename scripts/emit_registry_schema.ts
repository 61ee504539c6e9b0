// Writes registry.schema.json from the registry's valibot schema.
// Usage: deno task schema

import { toJsonSchema } from "@valibot/to-json-schema";
import { RegistrySchema } from "../lib/registry/registry_schema.ts";

/** The JSON Schema text for `registry.json`, as committed. */
export function registryJsonSchema(): string {
  const schema = {
    ...toJsonSchema(RegistrySchema),
    title: "bot-bottle backend registry",
  };
  return JSON.stringify(schema, null, 2) + "\n";
}

if (import.meta.main) {
  const target = new URL("../registry.schema.json", import.meta.url);
  await Deno.writeTextFile(target, registryJsonSchema());
  console.log(`wrote ${target.pathname}`);
}
