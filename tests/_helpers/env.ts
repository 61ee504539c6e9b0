// The environment of subprocesses that tests start with a reduced
// environment (`clearEnv: true`). Whatever a test strips, it keeps what
// reaching the network needs: on our machines the npm registry is reached
// through a TLS proxy whose CA Deno and Node learn from NODE_EXTRA_CA_CERTS,
// and a subprocess without it cannot download (or verify) anything.

/** The variables that reaching the network and its proxy needs. */
export const NETWORK_ENV_NAMES: readonly string[] = [
  "NODE_EXTRA_CA_CERTS",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
];

/** Addresses a test's own servers listen on: never sent through a proxy. */
const LOOPBACK = ["127.0.0.1", "localhost", "::1"];

/**
 * The environment for a subprocess started with `clearEnv: true`: this
 * process's network variables ({@linkcode NETWORK_ENV_NAMES}), then `env`,
 * which wins. When a proxy is set, loopback is added to `NO_PROXY`/`no_proxy`
 * so that a test's own servers (release server, registry) stay reachable.
 *
 * @param env The variables the subprocess is meant to see (PATH, HOME, …).
 * @param from Where the network variables come from (this process's environment).
 * @returns The whole environment.
 */
export function reducedEnv(
  env: Record<string, string>,
  from: Record<string, string> = Deno.env.toObject(),
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of NETWORK_ENV_NAMES) {
    const value = from[name];
    if (value !== undefined) kept[name] = value;
  }
  const proxied = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"].some((name) =>
    kept[name]
  );
  if (proxied) {
    for (const name of ["NO_PROXY", "no_proxy"]) {
      const listed = (kept[name] ?? "").split(",").map((entry) => entry.trim()).filter(Boolean);
      kept[name] = [...listed, ...LOOPBACK.filter((host) => !listed.includes(host))].join(",");
    }
  }
  return { ...kept, ...env };
}
