// Checks that a Docker bottle's state and its images agree: what the
// reliability tests assert after every fault, interrupt and race.

import { deepStrictEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { docker } from "./docker.ts";

/** What {@linkcode assertConsistent} found, for further checks. */
export interface BottleRecord {
  /** The history's snapshot ids, oldest first. */
  ids: string[];
  /** The history's artifacts, oldest first. */
  artifacts: string[];
  /** What `committed-image` names, if anything. */
  committedImage?: string;
}

async function imageId(reference: string): Promise<string | undefined> {
  return await docker("image", "inspect", "--format", "{{.Id}}", reference).catch(() => undefined);
}

/**
 * Asserts that the Docker bottle `slug` is consistent: every recorded
 * snapshot exists, `committed-image` names the newest, no image of the bottle
 * is unrecorded or untagged, no flattening container is left, and the state
 * directory holds no lock or temporary file.
 */
export async function assertConsistent(stateDir: string, slug: string): Promise<BottleRecord> {
  const names = (await Array.fromAsync(Deno.readDir(stateDir))).map((entry) => entry.name);
  deepStrictEqual(names.filter((name) => name === ".lock" || name.includes(".tmp-")), []);
  const history = await Deno.readTextFile(join(stateDir, "snapshots.json"))
    .then(JSON.parse, () => ({ snapshots: [] }));
  const ids: string[] = history.snapshots.map((record: { id: string }) => record.id);
  const artifacts: string[] = history.snapshots.map((record: { artifact: string }) =>
    record.artifact
  );
  equal(new Set(ids).size, ids.length, `snapshot ids repeat: ${ids}`);
  deepStrictEqual([...ids].sort(), ids, "the history is not in order");
  for (const artifact of artifacts) {
    equal(typeof (await imageId(artifact)), "string", `recorded snapshot ${artifact} is gone`);
  }
  const committedImage = await Deno.readTextFile(join(stateDir, "committed-image"))
    .then((text) => text.trim(), () => undefined);
  if (artifacts.length > 0) {
    equal(committedImage, `bot-bottle-committed-${slug}:latest`);
    equal(await imageId(committedImage!), await imageId(artifacts.at(-1)!));
  } else {
    equal(committedImage, undefined);
    equal(await imageId(`bot-bottle-committed-${slug}:latest`), undefined);
  }
  const tags = (await docker(
    "image",
    "ls",
    "--format",
    "{{.Repository}}:{{.Tag}}",
    `bot-bottle-committed-${slug}`,
  )).split("\n").filter(Boolean);
  deepStrictEqual(
    tags.filter((tag) => !artifacts.includes(tag) && !tag.endsWith(":latest")),
    [],
    "images of the bottle that no snapshot records",
  );
  const dangling = await docker(
    "image",
    "ls",
    "-q",
    "--filter",
    "dangling=true",
    "--filter",
    `label=bot-bottle.slug=${slug}`,
  );
  equal(dangling, "", "untagged images of the bottle");
  const flattening = await docker("ps", "-aq", "--filter", `name=^bot-bottle.flatten-${slug}`);
  equal(flattening, "", "a flattening container was left behind");
  return { ids, artifacts, ...committedImage === undefined ? {} : { committedImage } };
}

/** The names in a directory that bot-bottle's temporary directories would have. */
export async function leftoverTempDirs(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir)))
    .map((entry) => entry.name)
    .filter((name) => name.startsWith("bot-bottle-"));
}
