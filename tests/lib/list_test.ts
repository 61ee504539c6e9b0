import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { list } from "../../lib/ops/list.ts";
import { launcherMetadata, snapshotTree, tempHome } from "../_helpers/temp_home.ts";

Deno.test("list() shows symbolic-linked and hostile bottle directories as unknown, and still lists the others", async () => {
  await using home = await tempHome();
  const good = await home.writeBottle("good-1");
  // A state directory that is a link: to another bottle, and to /etc.
  await Deno.symlink(good, home.stateDir("link-1"));
  await Deno.symlink("/etc", home.stateDir("etc-1"));
  // Files in a real directory that are links, or far too large.
  const cimg = await home.writeBottle("cimg-1");
  await Deno.symlink("/etc/hostname", join(cimg, "committed-image"));
  const preserve = await home.writeBottle("keep-1");
  await Deno.symlink("/etc/hostname", join(preserve, ".preserve"));
  await home.writeBottle("deep-1", undefined, "[".repeat(100_000) + "]".repeat(100_000));
  // Read before the 10 GB file exists: snapshotTree reads every file whole.
  const before = await snapshotTree(home.root);
  const huge = await home.writeBottle("huge-1");
  await Deno.truncate(join(huge, "metadata.json"), 10 * 1024 ** 3);

  const rows = await list({ root: home.root });

  deepStrictEqual(rows.map((row) => row.slug), [
    "cimg-1",
    "deep-1",
    "etc-1",
    "good-1",
    "huge-1",
    "keep-1",
    "link-1",
  ]);
  const problems = Object.fromEntries(
    rows.filter((row) => row.slug !== "good-1").map((row) => {
      equal(row.state, "unknown", row.slug);
      equal(row.snapshot, null, row.slug);
      return [row.slug, row.problem];
    }),
  );
  match(problems["link-1"]!, /^the state directory of bottle "link-1", .* is a symbolic link to /);
  match(problems["etc-1"]!, / is a symbolic link to \/etc, and bot-bottle does not follow it;/);
  match(problems["cimg-1"]!, /committed-image is a symbolic link to \/etc\/hostname, /);
  match(problems["keep-1"]!, /\.preserve is a symbolic link to \/etc\/hostname, /);
  match(problems["huge-1"]!, /metadata\.json is larger than 1 MiB/);
  match(problems["deep-1"]!, /metadata\.json nests arrays or objects more than 64 levels deep/);
  const goodRow = rows.find((row) => row.slug === "good-1")!;
  equal(goodRow.backend, "docker");
  equal(goodRow.startedAt, launcherMetadata("good-1").started_at);
  equal(["absent", "unavailable"].includes(goodRow.state), true, goodRow.state);
  equal((await Deno.stat(join(huge, "metadata.json"))).size, 10 * 1024 ** 3);
  await Deno.remove(huge, { recursive: true });
  deepStrictEqual(await snapshotTree(home.root), before);
});
