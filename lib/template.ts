/**
 * Command templates: the argv lists in `registry.json`, with typed
 * placeholders such as `{container}`. A template renders to exactly as many
 * arguments as it has elements, whatever the values hold.
 *
 * @module
 */

import { BadInputError } from "./errors.ts";
import { isSlug } from "./slug.ts";

/** A kind of value a placeholder accepts. */
export interface PlaceholderKind {
  /** What the value is, for error messages: `"a bottle slug"`. */
  description: string;
  /** Tells whether `value` is acceptable. */
  accepts(value: string): boolean;
}

// Docker's reference grammar, simplified: lower-case path components,
// optional registry host and port, optional tag, optional digest.
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const HOST = "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?";
const IMAGE_REFERENCE = new RegExp(
  `^${HOST}${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` +
    `(?:@sha256:[a-f0-9]{64})?$`,
);
// The name rule of both Docker and Apple `container`, at most 128 characters.
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** The kinds a placeholder may have. */
export const KINDS = {
  slug: { description: "a bottle slug", accepts: isSlug },
  containerName: {
    description: "a container or machine name",
    accepts: (value) => CONTAINER_NAME.test(value),
  },
  imageReference: {
    description: "an image reference",
    accepts: (value) => IMAGE_REFERENCE.test(value),
  },
  absolutePath: {
    description: "an absolute path",
    accepts: (value) => value.startsWith("/") && !value.includes("\0"),
  },
} satisfies Record<string, PlaceholderKind>;

/**
 * Every placeholder a template may use, and its kind. A template that uses
 * any other is rejected when the registry loads.
 */
export const PLACEHOLDERS: Readonly<Record<string, PlaceholderKind>> = {
  slug: KINDS.slug,
  container: KINDS.containerName,
  image: KINDS.imageReference,
  path: KINDS.absolutePath,
};

/** Values for a template's placeholders, by placeholder name. */
export type TemplateValues = Readonly<Record<string, string>>;

/** A command template: the executable, then its arguments. */
export type Template = readonly string[];

// `{name}`, but not inside `{{ … }}` (Go templates such as `{{.State.Status}}`).
const PLACEHOLDER = /(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})/g;

/**
 * Lists the placeholder names a template uses.
 *
 * @param template The template.
 * @returns The names, each once, in order of first use.
 */
export function placeholdersOf(template: Template): string[] {
  const names = new Set<string>();
  for (const element of template) {
    for (const match of element.matchAll(PLACEHOLDER)) names.add(match[1]);
  }
  return [...names];
}

/**
 * Renders a template to an argv. Each value is checked against its
 * placeholder's kind first; each element of the template becomes exactly one
 * argument, so no value can add, remove or split arguments.
 *
 * @param template The template, e.g. `["docker", "commit", "{container}", "{image}"]`.
 * @param values A value for every placeholder the template uses.
 * @returns The argv, as long as the template.
 * @throws {BadInputError} When a value is not of its placeholder's kind.
 * @throws {TypeError} When a placeholder is unknown or has no value.
 *
 * @example
 * ```ts
 * import { renderTemplate } from "./template.ts";
 * renderTemplate(["docker", "commit", "{container}"], { container: "bot-bottle-dev-abc12" });
 * // ["docker", "commit", "bot-bottle-dev-abc12"]
 * ```
 */
export function renderTemplate(template: Template, values: TemplateValues): string[] {
  for (const name of placeholdersOf(template)) {
    if (!Object.hasOwn(PLACEHOLDERS, name)) throw new TypeError(`unknown placeholder {${name}}`);
    const kind = PLACEHOLDERS[name];
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (typeof value !== "string") throw new TypeError(`no value for placeholder {${name}}`);
    if (!kind.accepts(value)) {
      throw new BadInputError(
        `${JSON.stringify(value)} is not ${kind.description}, as {${name}} requires`,
      );
    }
  }
  return template.map((element) => element.replace(PLACEHOLDER, (_, name) => values[name]));
}
