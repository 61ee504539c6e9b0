/**
 * What a backend does with an OCI registry: push a bottle's snapshot and its
 * companion, pull them back, and tell a registry's failures in the user's
 * terms by the registry entry's `oci` wording. The base of
 * {@linkcode Backend}; a backend whose entry has no registry templates
 * refuses push and pull with one line.
 *
 * @module
 */

import type { Agent } from "./state/agent.ts";
import { CommandRunner } from "./command_runner.ts";
import { BackendError, BadInputError, RegistryAccessError } from "./errors.ts";
import type { RegistryFailureKind } from "./errors.ts";
import type { OciReference } from "./archive/oci_reference.ts";
import type { PullContext } from "./backend_types.ts";

/** Push and pull through an OCI registry, as every {@linkcode Backend} has them. */
export abstract class OciTransport extends CommandRunner {
  /**
   * Pushes a snapshot to a registry as `ref`, leaving no new name here.
   * The default: this backend cannot push.
   *
   * @param agent The bottle.
   * @param artifact The snapshot's artifact.
   * @param ref Where to push it, with its tag.
   * @param dir A private directory for temporary files.
   * @returns Its digest in the registry (`sha256:…`).
   * @throws {RegistryAccessError} When the registry refused or failed.
   */
  pushSnapshot(_agent: Agent, _artifact: string, _ref: string, _dir: string): Promise<string> {
    return Promise.reject(this.noRegistry("push"));
  }

  /**
   * Pushes a bottle's companion (a tar, see `companion.ts`) to a registry
   * as `ref`, leaving no new name here. The default: this backend cannot push.
   *
   * @param file The companion tar.
   * @param ref Where to push it, with its tag.
   * @param dir A private directory for temporary files.
   * @returns Its digest in the registry.
   */
  pushCompanion(_file: string, _ref: string, _dir: string): Promise<string> {
    return Promise.reject(this.noRegistry("push"));
  }

  /**
   * Pulls a bottle's companion from `ref`, leaving nothing here.
   *
   * @param ref Its reference, with its tag.
   * @param dir A private directory for temporary files.
   * @returns The companion tar's bytes (checked by the caller).
   * @throws {RegistryAccessError} When the registry refused or failed (`unknown`: no such tag).
   */
  pullCompanion(_ref: string, _dir: string): Promise<Uint8Array> {
    return Promise.reject(this.noRegistry("pull"));
  }

  /**
   * Tells whether the registry holds `ref`, leaving nothing here: asked
   * only when a bottle's companion is missing, to tell a plain image (not a
   * bottle) from a tag that is not there.
   *
   * @param ref The reference, with its tag.
   * @param dir A private directory for temporary files.
   */
  remoteExists(_ref: string, _dir: string): Promise<boolean> {
    return Promise.reject(this.noRegistry("pull"));
  }

  /**
   * Pulls the snapshot at `ref`, checks that its digest is `context.digest`,
   * and makes it snapshot `context.id` of bottle `slug`, the newest, like
   * {@linkcode Backend.importArtifact}: the undoing of each change goes into
   * `context.undo`, and no name it pulled through is left here.
   *
   * @param slug The bottle it now belongs to.
   * @param ref The snapshot's reference, with its tag.
   * @param stateDir The bottle's state directory.
   * @param context The snapshot's id, the digest, the newest snapshot before it, the undo steps.
   * @returns The snapshot's own artifact, and what `committed-image` names.
   * @throws {BadInputError} On a digest mismatch; nothing is left.
   */
  pullSnapshot(
    _slug: string,
    _ref: string,
    _stateDir: string,
    _context: PullContext,
  ): Promise<{ artifact: string; current: string }> {
    return Promise.reject(this.noRegistry("pull"));
  }

  /** The refusal of a push or pull this backend's registry entry does not support. */
  protected noRegistry(operation: "push" | "pull"): BadInputError {
    return new BadInputError(
      `the "${this.name}" backend cannot ${operation} bottles through a registry: its registry ` +
        `entry lacks the templates or the "oci" wording it needs (see docs/registry.md)`,
    );
  }

  /**
   * Runs `work`, a push or pull of `ref`, telling a failure at the registry
   * in the user's terms ({@linkcode RegistryAccessError}), by the registry
   * entry's `oci.errors` patterns.
   *
   * @param ref The reference pushed or pulled.
   * @param work The backend commands.
   * @returns What `work` returned.
   */
  async viaRegistry<T>(ref: OciReference, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof BackendError) || error instanceof RegistryAccessError) throw error;
      throw this.registryFailure(error, ref);
    }
  }

  /**
   * A failed push or pull in the user's terms, or the error as it is when
   * the registry entry's patterns do not recognise it.
   *
   * @param error The failure.
   * @param ref The reference pushed or pulled.
   */
  registryFailure(error: BackendError, ref: OciReference): BackendError {
    const oci = this.oci;
    if (!oci) return error;
    const said = lastSaid(error);
    const kinds: RegistryFailureKind[] = [
      "untrusted",
      "unauthorized",
      "corrupt",
      "unknown",
      "unreachable",
    ];
    const kind = kinds.find((kind) => new RegExp(oci.errors[kind], "i").test(said));
    if (!kind) return error;
    const host = ref.host;
    const name = `${ref.name}${ref.tag ? `:${ref.tag}` : ""}`;
    const hint = (text: string) => text.replaceAll("{host}", host).replaceAll("{ref}", name);
    const message = {
      unreachable: `cannot reach the registry ${host} (${said}); ${hint(oci.hints.unreachable)}`,
      unauthorized: `the registry ${host} refused access to ${name} (${said}); ` +
        hint(oci.hints.unauthorized),
      untrusted: `the registry ${host}'s TLS certificate is not trusted here (${said}); ` +
        hint(oci.hints.untrusted),
      unknown: `unknown tag: the registry ${host} has no ${name} (${said}); check the ` +
        `reference "bot-bottle push" printed, or push the bottle again`,
      corrupt: `digest mismatch: what the registry ${host} sent for ${name} does not match ` +
        `its digest (${said}); nothing was written: push the bottle again`,
    }[kind];
    return new RegistryAccessError(message, kind, host, error, { cause: error });
  }

  /**
   * The digest a push or pull printed, by the registry entry's `oci.digest`
   * pattern.
   *
   * @param text The command's output.
   * @returns The digest, or `undefined` when none is found.
   */
  digestIn(text: string): string | undefined {
    if (!this.oci?.digest) return undefined;
    const found = text.match(new RegExp(this.oci.digest, "i"))?.[1]?.toLowerCase();
    return found && /^sha256:[0-9a-f]{64}$/.test(found) ? found : undefined;
  }
}

/** The last line of a failed command's output that says something. */
function lastSaid(error: BackendError): string {
  const lines = `${error.stderr}\n${error.stdout}`.split("\n").map((line) => line.trim())
    .filter((line) => line !== "");
  const stderr = error.stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  return stderr.at(-1) ?? lines.at(-1) ?? error.message;
}
