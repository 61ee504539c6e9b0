/**
 * Starting a new bottle: the operation behind `bot-bottle start`.
 *
 * @module
 */

import { shellHint } from "./exec.ts";
import { lockSlug } from "../state/bottle_lock.ts";
import { BottleState, stateRoot } from "../state/bottle_state.ts";
import { startedAt } from "../state/metadata.ts";
import { BadInputError } from "../errors.ts";
import type { StartSpec } from "../backend.ts";
import { dirname } from "node:path";
import { type GetFreezerOptions, loadRegistry, type Registry } from "../registry/registry.ts";
import { checkStaysUp } from "./stays_up.ts";
import { mintSlug, slugFromLabel } from "../state/slug.ts";

/** Options for {@linkcode start}. */
export interface StartOptions extends GetFreezerOptions, Partial<StartSpec> {
  /** The image to run. */
  image: string;
  /** The backend (default `docker`). */
  backend?: string;
  /** A label; the slug is made from it. Without one a slug is minted. */
  label?: string;
  /** The registry to use (default: {@linkcode loadRegistry}). */
  registry?: Registry;
  /** The state root (default: `$BOT_BOTTLE_HOME` or `$HOME/.bot-bottle`). */
  root?: string;
}

/** What {@linkcode start} did. */
export interface StartResult {
  /** The new bottle's slug. */
  slug: string;
  /** Its backend. */
  backend: string;
  /** Its name on the backend, `bot-bottle-<slug>`. */
  bottle: string;
  /** A command that opens a shell in it: `bot-bottle exec <slug>`. */
  shellCommand: string;
}

/**
 * Creates and starts a bottle, and writes its `metadata.json` as the
 * launcher does. When the backend fails, or the bottle does not stay up
 * (its command exits at once), the bottle and the state directory it made
 * are removed again.
 *
 * @param options The image and how to run it.
 * @returns The new bottle.
 * @throws {BadInputError} When the label makes no slug, or a bottle with the
 * slug already exists (running, stopped, or with state).
 * @throws {BackendError} When the backend failed, or the bottle did not stay
 * up (the message has its exit status and the last lines of its output).
 *
 * @example
 * ```ts
 * import { start } from "@bot-bottle/bot-bottle";
 * const { slug } = await start({ image: "debian:bookworm", label: "dev", command: ["sleep", "infinity"] });
 * ```
 */
export async function start(options: StartOptions): Promise<StartResult> {
  const registry = options.registry ?? await loadRegistry();
  const backend = registry.getBackend(options.backend ?? "docker", options);
  const slug = options.label === undefined ? mintSlug() : slugFromLabel(options.label);
  const state = new BottleState(slug, options.root ?? stateRoot());
  const spec: StartSpec = {
    image: options.image,
    env: options.env ?? [],
    volumes: options.volumes ?? [],
    command: options.command ?? [],
  };
  backend.checkStart(slug, spec);
  const status = await backend.bottleStatus(slug);
  if (status !== "absent") {
    throw new BadInputError(
      `a bottle "${slug}" already exists on ${backend.name} (${
        backend.bottleName(slug)
      } is ${status}); ` +
        `resume it ("bot-bottle resume ${slug}"), destroy it, or pick another --name`,
    );
  }
  const made = await makeDirectories([state.root, dirname(state.dir)]);
  try {
    await Deno.mkdir(state.dir, { mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    throw new BadInputError(
      `bottle "${slug}" already has state at ${state.dir}; destroy it first, or pick another --name`,
      { cause: error },
    );
  }
  await using _lock = await lockSlug(slug, "start", { ...options, root: state.root });
  try {
    await state.writeMetadata({
      identity: slug,
      cwd: Deno.cwd(),
      copy_cwd: false,
      started_at: startedAt(new Date()),
      ...(backend.name === "docker" ? { compose_project: backend.bottleName(slug) } : {}),
      backend: backend.name,
      ...(options.label === undefined ? {} : { label: options.label }),
      bottle_names: [backend.bottleName(slug)],
    });
    await backend.startBottle(slug, spec);
    await checkStaysUp(backend, slug, spec.image);
  } catch (error) {
    await backend.cleanup(() => backend.removeBottle(slug)).catch(() => {});
    await Deno.remove(state.dir, { recursive: true }).catch(() => {});
    for (const dir of made.reverse()) await Deno.remove(dir).catch(() => {});
    throw error;
  }
  return {
    slug,
    backend: backend.name,
    bottle: backend.bottleName(slug),
    shellCommand: shellHint(slug),
  };
}

/** Creates the missing ones of `dirs` (outermost first, mode 0700); returns those it created. */
async function makeDirectories(dirs: string[]): Promise<string[]> {
  const made: string[] = [];
  for (const dir of dirs) {
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
      made.push(dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
  return made;
}
