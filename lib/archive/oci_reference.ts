/**
 * Registry references for `bot-bottle push` and `pull`:
 * `host[:port]/repository[:tag][@sha256:…]`, split as registries split them,
 * and the companion's tag beside the snapshot's.
 *
 * @module
 */

import { BadInputError } from "../errors.ts";

/** The tag suffix of a bottle's companion (its state) beside its snapshot's tag. */
export const COMPANION_SUFFIX = ".bottle";

/** A registry reference, split. */
export interface OciReference {
  /** The registry: `host[:port]` (`docker.io` when the reference names none). */
  host: string;
  /** The name without tag or digest, as given (`host/team/dev`). */
  name: string;
  /** The tag, when given. */
  tag?: string;
  /** The digest (`sha256:…`), when given. */
  digest?: string;
}

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const PATH = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Parses `text` as a registry reference (Docker's grammar: the first
 * component is a host when it holds a `.` or a `:` or is `localhost`).
 *
 * @param text The reference.
 * @param what What it is, for the message (`"push"`, `"pull"`).
 * @returns The reference.
 * @throws {BadInputError} When it is not one.
 */
export function parseOciReference(text: string, what: string): OciReference {
  const refuse = (why: string) =>
    new BadInputError(
      `${JSON.stringify(text)} is not a registry reference (${why}); ${what} takes one such ` +
        `as registry.example.com/team/dev:v1`,
    );
  const at = text.indexOf("@");
  const digest = at === -1 ? undefined : text.slice(at + 1);
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw refuse("its digest must be sha256: and 64 lower-case hex digits");
  }
  let name = at === -1 ? text : text.slice(0, at);
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  const hasHost = slash !== -1 && (/[.:]/.test(first) || first === "localhost");
  const host = hasHost ? first : "docker.io";
  if (hasHost && !/^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/.test(host)) throw refuse("a bad host");
  let tag: string | undefined;
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!TAG.test(tag)) {
      throw refuse(
        "a tag is letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'",
      );
    }
  }
  const path = hasHost ? name.slice(host.length + 1) : name;
  if (!PATH.test(path)) throw refuse("a repository is lower-case words joined by '/'");
  return {
    host,
    name,
    ...tag === undefined ? {} : { tag },
    ...digest === undefined ? {} : { digest },
  };
}

/** `name:tag`. */
export function tagged(ref: OciReference, tag: string): string {
  return `${ref.name}:${tag}`;
}

/**
 * The companion's tag beside the snapshot's tag `tag`: `<tag>.bottle`.
 *
 * @throws {BadInputError} When it would be longer than a tag may be.
 */
export function companionTag(tag: string): string {
  const companion = `${tag}${COMPANION_SUFFIX}`;
  if (companion.length > 128) {
    throw new BadInputError(
      `the tag "${tag}" is too long: its bottle's state travels as "${companion}", and a tag ` +
        `is at most 128 characters; use a tag of at most ${128 - COMPANION_SUFFIX.length}`,
    );
  }
  return companion;
}
