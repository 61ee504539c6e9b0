// Takes a bottle's lock as another bot-bottle process would, says "locked",
// and holds it until its standard input closes (or it is killed).
// Usage: deno run -A hold_lock.ts <root> <slug> <operation> [shared]
import { lockBottle } from "../../lib/state/bottle_lock.ts";
import { BottleState } from "../../lib/state/bottle_state.ts";

const [root, slug, operation, shared] = Deno.args;
if (slug === undefined || operation === undefined) {
  throw new Error("usage: hold_lock.ts <root> <slug> <operation> [shared]");
}
const lock = await lockBottle(new BottleState(slug, root), operation, {
  shared: shared === "shared",
});
console.log("locked");
for await (const _ of Deno.stdin.readable) {
  // Hold the lock while the test keeps standard input open.
}
await lock.release();
