/**
 * Loading a registry entry's freezer module: a built-in one (`builtin:<name>`,
 * or a path of the built-in registry) by a literal import, which `deno
 * compile` bundles; any other from its file, refused when others may write
 * it. The module must export a Freezer subclass that names its Backend.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { Backend } from "../backend.ts";
import { Freezer, type FreezerClass } from "../freezer.ts";

/** Where the built-in registry, `registry.json`, is. */
export const BUILTIN_URL = new URL("../../registry.json", import.meta.url);

/**
 * The built-in freezers, imported by literal specifiers: `deno compile`
 * bundles them, and nothing loads them before the registry does.
 */
const BUILTIN_FREEZERS: Readonly<Record<string, () => Promise<{ default?: unknown }>>> = {
  "./backends/docker.ts": () => import("../../backends/docker.ts"),
  "./backends/macos_container.ts": () => import("../../backends/macos_container.ts"),
  "./backends/smolmachines.ts": () => import("../../backends/smolmachines.ts"),
};

/**
 * The built-in modules by the name any registry may use, `builtin:<backend>`
 * (also from the compiled binary, which holds no module files).
 */
const BUILTIN_BY_NAME: Readonly<Record<string, string>> = {
  "builtin:docker": "./backends/docker.ts",
  "builtin:macos-container": "./backends/macos_container.ts",
  "builtin:smolmachines": "./backends/smolmachines.ts",
};

/**
 * Loads the freezer module `path` of `backend`, relative to `registryUrl`.
 *
 * @param fail Reports a problem with the entry's `freezer` field, throwing.
 * @param checkMode Whether to refuse a module file others may write.
 */
export async function loadFreezerModule(
  registryUrl: URL,
  backend: string,
  path: string,
  fail: (problem: string) => never,
  checkMode: boolean,
): Promise<FreezerClass> {
  const field = `backends.${backend}.freezer`;
  const named = BUILTIN_BY_NAME[path];
  if (path.startsWith("builtin:") && named === undefined) {
    const known = Object.keys(BUILTIN_BY_NAME).map((name) => `"${name}"`).join(", ");
    return fail(`${field}: there is no built-in module "${path}"; built-in modules: ${known}`);
  }
  const moduleUrl = new URL(path, registryUrl);
  if (named === undefined && checkMode && moduleUrl.protocol === "file:") {
    const file = fileURLToPath(moduleUrl);
    const writable = await writableByOthers(file);
    if (writable !== undefined) {
      fail(
        `${field}: ${file} is writable by group or others (mode ${writable}), so they could ` +
          `run code as you; run "chmod go-w ${file}"`,
      );
    }
  }
  let module: { default?: unknown };
  try {
    const builtin = named !== undefined
      ? BUILTIN_FREEZERS[named]
      : registryUrl.href === BUILTIN_URL.href
      ? BUILTIN_FREEZERS[path]
      : undefined;
    module = await (builtin ? builtin() : import(moduleUrl.href));
  } catch (error) {
    return fail(`${field}: cannot load ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  const candidate = module.default;
  if (typeof candidate !== "function" || !(candidate.prototype instanceof Freezer)) {
    return fail(`${field}: ${path} must export a Freezer subclass as its default export`);
  }
  const backendClass: unknown = (candidate as { Backend?: unknown }).Backend;
  if (typeof backendClass !== "function" || !(backendClass.prototype instanceof Backend)) {
    return fail(
      `${field}: ${path}'s default export must name its Backend subclass as its static Backend`,
    );
  }
  return candidate as unknown as FreezerClass;
}

/**
 * Tells whether a file can be written by its group or by other users.
 *
 * @returns Its mode in octal (e.g. `"0664"`) when it can, else `undefined`
 * (also when it cannot be read: loading it reports that).
 */
async function writableByOthers(file: string): Promise<string | undefined> {
  return modeIfWritableByOthers(await Deno.stat(file).then((info) => info.mode, () => null));
}

/** A file mode in octal (e.g. `"0664"`) when group or others may write, else `undefined`. */
export function modeIfWritableByOthers(mode: number | null): string | undefined {
  if (mode === null || (mode & 0o022) === 0) return undefined;
  return `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;
}
