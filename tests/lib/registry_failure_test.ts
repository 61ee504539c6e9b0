// The registry entries' `oci` patterns tell each registry failure by the
// texts the CLIs really print: Docker's as tests/_helpers/oci_registry.ts
// records them from the real engine; Apple `container`'s from
// apple/containerization's source (RegistryClient+Error.swift:
// `HTTP request to URL failed with response: STATUS. Reason: …`;
// RegistryClient.swift: `access denied or wrong credentials`;
// ImageStore+Import.swift: `digest mismatch expected …, got …`); its refused
// connection and untrusted certificate come from SwiftNIO, whose texts were
// not read: the two below are NIO's usual forms, an assumption.

import { equal } from "node:assert/strict";
import { BackendError, type RegistryAccessError } from "../../lib/errors.ts";
import { parseOciReference } from "../../lib/archive/oci_reference.ts";
import { loadRegistry } from "../../lib/registry/registry.ts";

const registry = await loadRegistry();

function kindOf(backend: string, stderr: string): string | undefined {
  const failure = new BackendError("failed", {
    backend,
    command: "pull",
    argv: [],
    exitCode: 1,
    stdout: "",
    stderr,
  });
  const told = registry.getBackend(backend).registryFailure(
    failure,
    parseOciReference("127.0.0.1:5000/team/dev:v1", "pull"),
  );
  return told === failure ? undefined : (told as RegistryAccessError).kind;
}

const H = "127.0.0.1:5000";

Deno.test("docker's oci patterns tell each failure Docker prints", () => {
  const cases: [string, string][] = [
    [
      `Error response from daemon: Get "http://${H}/v2/": dial tcp ${H}: connect: connection refused`,
      "unreachable",
    ],
    ["no basic auth credentials", "unauthorized"],
    [
      `Error response from daemon: login attempt to http://${H}/v2/ failed with status: 401 Unauthorized`,
      "unauthorized",
    ],
    [
      `Get "https://${H}/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
      "untrusted",
    ],
    [
      `Error response from daemon: manifest for ${H}/team/dev:v1 not found: manifest unknown: manifest unknown`,
      "unknown",
    ],
    [`filesystem layer verification failed for digest sha256:${"a".repeat(64)}`, "corrupt"],
    ["Error response from daemon: something else entirely", ""],
  ];
  for (const [text, kind] of cases) equal(kindOf("docker", text) ?? "", kind, text);
});

Deno.test("macos-container's oci patterns tell each failure apple/containerization words", () => {
  const cases: [string, string][] = [
    [
      `Error: HTTP request to http://${H}/v2/team/dev/manifests/v1 failed with response: 401 Unauthorized. Reason: access denied or wrong credentials`,
      "unauthorized",
    ],
    [
      `Error: HTTP request to http://${H}/v2/team/dev/manifests/nope failed with response: 404 Not Found. Reason: Unknown`,
      "unknown",
    ],
    [
      `Error: internalError: "digest mismatch expected sha256:${"a".repeat(64)}, got sha256:${
        "b".repeat(64)
      }"`,
      "corrupt",
    ],
    [`Error: connect(descriptor:addr:size:): Connection refused (errno: 61)`, "unreachable"],
    [
      `Error: handshakeFailed(NIOSSL.BoringSSLError.sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED]))`,
      "untrusted",
    ],
  ];
  for (const [text, kind] of cases) equal(kindOf("macos-container", text) ?? "", kind, text);
});
