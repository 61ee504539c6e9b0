// A loopback stand-in for bot-bottle's GitHub releases, for the installer
// tests: fake release assets served at <url>/v<version>/<name>, the layout
// that BOT_BOTTLE_DOWNLOAD_URL names.

/** The release assets a `deno compile` release publishes, one per target. */
export const ASSETS: readonly string[] = [
  "bot-bottle-x86_64-unknown-linux-gnu",
  "bot-bottle-aarch64-unknown-linux-gnu",
  "bot-bottle-x86_64-apple-darwin",
  "bot-bottle-aarch64-apple-darwin",
];

/** The asset install.sh picks on this machine. */
export const HOST_ASSET = `bot-bottle-${Deno.build.target}`;

/**
 * A stand-in for a release binary: a shell script that answers `--version`
 * as bot-bottle does (`bot-bottle X.Y.Z (…)`).
 */
export function fakeBinary(version: string, reports = version): string {
  return [
    "#!/bin/sh",
    `if [ "$1" = --version ]; then echo "bot-bottle ${reports} (fake release binary)"; exit 0; fi`,
    'echo "fake bot-bottle: $*"',
    "",
  ].join("\n");
}

/** The hex SHA-256 of `text`. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** `sha256sum` output for `files` (name → content): `<hex>  <name>` lines. */
export async function sha256sums(files: Record<string, string>): Promise<string> {
  const lines = await Promise.all(
    Object.entries(files).map(async ([name, text]) => `${await sha256Hex(text)}  ${name}\n`),
  );
  return lines.join("");
}

/**
 * A release's files, keyed by path under the download URL: every asset in
 * {@linkcode ASSETS} as a {@linkcode fakeBinary}, and `v<version>/SHA256SUMS`
 * listing them all.
 */
export async function fakeRelease(version: string): Promise<Record<string, string>> {
  const assets = Object.fromEntries(ASSETS.map((name) => [name, fakeBinary(version)]));
  const files: Record<string, string> = {};
  for (const [name, text] of Object.entries(assets)) files[`v${version}/${name}`] = text;
  files[`v${version}/SHA256SUMS`] = await sha256sums(assets);
  return files;
}

/** A running loopback release server. */
export interface ReleaseServer extends AsyncDisposable {
  /** What to set BOT_BOTTLE_DOWNLOAD_URL to: `http://127.0.0.1:<port>/releases/download`. */
  url: string;
  /** Paths under {@linkcode url} requested so far, in order (`v0.1.0/SHA256SUMS`, …). */
  requests: string[];
}

/**
 * Serves `files` (path under the URL → content) on 127.0.0.1 at a free port;
 * anything else is a 404, as on GitHub. A path in `stall` answers 200, sends
 * a few bytes and then nothing until the server is disposed (a download in
 * progress).
 */
export function releaseServer(
  files: Record<string, string>,
  stall: string[] = [],
): ReleaseServer {
  const prefix = "/releases/download/";
  const requests: string[] = [];
  const stalled = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const path = new URL(request.url).pathname;
      const name = path.startsWith(prefix) ? decodeURIComponent(path.slice(prefix.length)) : "";
      requests.push(name || path);
      if (stall.includes(name)) {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("#!/bin/sh\n"));
            stalled.signal.addEventListener("abort", () => {
              try {
                controller.close();
              } catch {
                // the client went away first
              }
            });
          },
        });
        return new Response(body, { headers: { "content-length": "1000000" } });
      }
      const text = files[name];
      if (text === undefined) return new Response("Not Found", { status: 404 });
      return new Response(text, { headers: { "content-type": "application/octet-stream" } });
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}/releases/download`,
    requests,
    async [Symbol.asyncDispose]() {
      stalled.abort();
      await server.shutdown();
    },
  };
}

/** A URL on a loopback port that nothing listens on (connection refused). */
export function closedPortUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return `http://127.0.0.1:${port}/releases/download`;
}
