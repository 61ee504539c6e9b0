// The names a backend gives its bottles and snapshots are registry data
// (`naming`): a user registry, through BOT_BOTTLE_REGISTRY alone, names them
// differently on the real Docker engine, and start → commit → destroy
// --keep-snapshot → resume → ls → destroy use those names and never the
// built-in ones, as the dockerlike backend (dockerlike_test.ts) does for the
// engine's wording.

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import builtin from "../../registry.json" with { type: "json" };
import { type CliRun, runCli } from "../_helpers/cli.ts";
import { docker, dockerTest, TEST_IMAGE, testSlug } from "../_helpers/docker.ts";
import { tempHome } from "../_helpers/temp_home.ts";

const BOTTLE = "bbname-{slug}.box";
const SNAPSHOTS = "bbname/snap-{slug}";

/** The built-in docker entry, by name ("builtin:docker"), with its own names. */
function renamedRegistry(): unknown {
  const { docker } = builtin.backends;
  // Its listing template filters by the bottle form, so it follows the form.
  const listAll = docker.commands.listAll.map((arg) =>
    arg === "name=^bot-bottle-" ? "name=^bbname-" : arg
  );
  return {
    aliases: { "": "docker" },
    backends: {
      docker: {
        ...docker,
        freezer: "builtin:docker",
        naming: { bottle: BOTTLE, snapshots: SNAPSHOTS },
        commands: { ...docker.commands, listAll },
      },
    },
  };
}

/** Every container and image of `slug` under both the renamed and the built-in names. */
async function objects(slug: string): Promise<string[]> {
  const found = [
    await docker("ps", "-a", "--format", "{{.Names}}", "--filter", `name=^bbname-${slug}\\.box$`),
    await docker("ps", "-a", "--format", "{{.Names}}", "--filter", `name=^bot-bottle-${slug}$`),
    await docker("images", "--format", "{{.Repository}}:{{.Tag}}", `bbname/snap-${slug}`),
    await docker("images", "--format", "{{.Repository}}:{{.Tag}}", `bot-bottle-committed-${slug}`),
  ];
  return found.flatMap((lines) => lines.split("\n")).filter(Boolean).sort();
}

function ok0(run: CliRun, what: string) {
  equal(run.code, 0, `${what}: exit ${run.code}: ${run.stderr}`);
}

dockerTest(
  "a registry's naming names the bottle and its snapshots: start → commit → destroy --keep-snapshot → resume → ls → destroy on Docker",
  async () => {
    await using home = await tempHome();
    const registry = join(home.home, "registry.json");
    await Deno.writeTextFile(registry, JSON.stringify(renamedRegistry()), { mode: 0o644 });
    const env = { ...home.env, BOT_BOTTLE_REGISTRY: registry };
    const cli = (...args: string[]) => runCli(args, env);
    const slug = testSlug("nm");
    const container = `bbname-${slug}.box`;
    try {
      ok0(
        await cli("start", "--name", slug, "--image", TEST_IMAGE, "--", "sleep", "3600"),
        "start",
      );
      deepStrictEqual(await objects(slug), [container]);
      const metadata = JSON.parse(
        await Deno.readTextFile(join(home.stateDir(slug), "metadata.json")),
      );
      deepStrictEqual(metadata.bottle_names, [container]);
      equal(metadata.compose_project, container);
      await docker("exec", container, "sh", "-c", "echo agent work > /marker");

      ok0(await cli("commit", slug, "--yes"), "commit");
      const committed = await Deno.readTextFile(join(home.stateDir(slug), "committed-image"));
      equal(committed, `bbname/snap-${slug}:latest\n`);
      const [record] = JSON.parse((await cli("snapshots", slug, "--json")).stdout);
      match(record.artifact, new RegExp(`^bbname/snap-${slug}:\\d{8}T\\d{6}Z`));
      deepStrictEqual(
        await objects(slug),
        [`bbname/snap-${slug}:latest`, record.artifact, container].sort(),
      );

      ok0(await cli("destroy", slug, "--keep-snapshot", "--yes"), "destroy --keep-snapshot");
      deepStrictEqual(await objects(slug), [`bbname/snap-${slug}:latest`, record.artifact].sort());
      equal(JSON.parse((await cli("ls", "--json")).stdout)[0].state, "absent");

      ok0(await cli("resume", slug), "resume");
      equal(await docker("exec", container, "cat", "/marker"), "agent work");
      const [row] = JSON.parse((await cli("ls", "--json")).stdout);
      deepStrictEqual([row.slug, row.state, row.snapshot.exists], [slug, "running", true]);

      ok0(await cli("destroy", slug, "--yes"), "destroy");
      deepStrictEqual(await objects(slug), []);
    } finally {
      await docker("rm", "--force", container).catch(() => {});
      for (const image of await objects(slug)) await docker("image", "rm", image).catch(() => {});
    }
  },
);
