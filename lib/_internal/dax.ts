// dax is loaded on first use, not at start-up: its npm build pulls in Deno's
// Node compatibility layer and compiles two WebAssembly modules, which costs
// tens of milliseconds that --help, --version and bad-input paths should not
// pay (see docs/benchmarks.md).

let loading: Promise<typeof import("dax")> | undefined;

/** Loads dax once and returns its `$`. */
export async function dax(): Promise<typeof import("dax").$> {
  loading ??= import("dax");
  return (await loading).$;
}
