// deno task demo [slug]: starts a demo bottle on Docker, as the launcher
// would, so that `deno run -A main.ts commit demo` has something to freeze.
// The bottle runs a local busybox image (no registry needed) and holds a
// file its "agent" wrote.

import { $ } from "dax";
import { BottleState } from "../lib/state/bottle_state.ts";
import { startedAt } from "../lib/state/metadata.ts";
import { ensureBusyboxImage } from "./busybox_image.ts";

const slug = Deno.args[0] ?? "demo";
const state = new BottleState(slug);
const container = `bot-bottle-${slug}`;

const image = await ensureBusyboxImage();
const status = await $`docker container inspect --format ${"{{.State.Status}}"} ${container}`
  .stdout("piped").stderr("null").noThrow();
if (status.code === 0 && status.stdout.trim() === "running") {
  console.error(`demo: ${container} is already running; reusing it`);
} else {
  if (status.code === 0) await $`docker rm -f ${container}`.quiet();
  await $`docker run -d --name ${container} ${image} sleep 86400`.quiet();
  await $`docker exec ${container} sh -c ${"mkdir -p /work && echo 'notes the agent wrote' > /work/notes.txt"}`;
  console.error(`demo: started ${container} from ${image}, with /work/notes.txt inside`);
}

await Deno.mkdir(state.dir, { recursive: true, mode: 0o700 });
await state.writeMetadata({
  identity: slug,
  agent_name: "demo",
  cwd: Deno.cwd(),
  copy_cwd: false,
  started_at: startedAt(new Date()),
  compose_project: `bot-bottle-${slug}`,
  backend: "docker",
  label: slug,
  bottle_names: [container],
});
console.error(`demo: wrote ${state.path("metadata.json")}`);
console.error(`demo: now freeze it: deno run -A main.ts commit ${slug}`);
console.error(`demo: clean up later: deno run -A main.ts destroy ${slug}`);
