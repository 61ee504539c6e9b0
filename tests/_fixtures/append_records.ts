// Records snapshot after snapshot in a bottle's history as a commit does (read what a commit
// reads, add the record in place with the other state files), printing each id once its
// recording returned, until it is killed.
// Usage: deno run -A append_records.ts <root> <slug>
import { BottleState } from "../../lib/state/bottle_state.ts";

const [root, slug] = Deno.args;
if (root === undefined || slug === undefined) {
  throw new Error("usage: append_records.ts <root> <slug>");
}
for (let n = 1;; n++) {
  const state = new BottleState(slug, root);
  const history = await state.readRecentHistory("docker");
  const id = `20300101T000000Z-${n}`;
  await state.recordCommit({
    history: history.adding({
      id,
      createdAt: new Date().toISOString(),
      backend: "docker",
      artifact: `bot-bottle-committed-${slug}:${id}`,
      sizeBytes: n,
      parent: history.resumedFrom,
      toolVersion: "test",
      message: `note ${n}`,
      mode: "disk",
    }),
    committedImage: `bot-bottle-committed-${slug}:latest`,
  });
  console.log(id);
}
