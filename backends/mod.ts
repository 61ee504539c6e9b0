/**
 * Every freezer the built-in registry names. `deno compile` bundles only the
 * static module graph, so each backend module is imported here, and
 * `tests/registry_graph_test.ts` fails when `registry.json` names a module
 * that this file does not reach.
 *
 * @module
 */

export { DockerFreezer } from "./docker.ts";
export { MacosContainerFreezer } from "./macos_container.ts";
export { SmolmachinesFreezer } from "./smolmachines.ts";
