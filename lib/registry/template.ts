/**
 * Command templates: the argv lists in `registry.json`, with typed
 * placeholders such as `{container}`. Every value is checked against its
 * placeholder's kind before anything runs, and every value becomes exactly
 * one argument: a value can never add, remove or split arguments.
 *
 * Two forms:
 * - `{name}` takes one value; its element renders to one argument.
 * - `{name...}` takes a list; its element is repeated once per value (none
 *   for an empty list), e.g. `"--env={env...}"` renders `--env=A=1 --env=B=2`.
 *
 * @module
 */

import { BadInputError } from "../errors.ts";
import { isSlug } from "../state/slug.ts";

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
const noNul = (value: string) => !value.includes("\0");

/**
 * The kinds a placeholder may have. No kind but `argument` accepts a leading
 * `-`, except the fixed options of `flag` and `schemeOption`.
 */
export const KINDS = {
  slug: { description: "a bottle slug", accepts: isSlug },
  containerName: {
    description: "a container, machine or network name",
    accepts: (value) => CONTAINER_NAME.test(value),
  },
  imageReference: {
    description: "an image reference",
    accepts: (value) => IMAGE_REFERENCE.test(value),
  },
  absolutePath: {
    description: "an absolute path",
    accepts: (value) => value.startsWith("/") && noNul(value),
  },
  environmentVariable: {
    description: "an environment variable (NAME=value)",
    accepts: (value) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(value) && noNul(value),
  },
  volume: {
    description: "a volume (HOST_PATH_OR_NAME:GUEST_PATH[:OPTIONS])",
    accepts: (value) => /^[^-:][^:]*:\/[^:]*(?::[a-z,]+)?$/.test(value) && noNul(value),
  },
  label: {
    description: "a label (key=value)",
    accepts: (value) => /^[A-Za-z0-9][^=]*=/.test(value) && noNul(value),
  },
  user: {
    description: "a user (name or uid, with an optional :group)",
    accepts: (value) =>
      /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(value),
  },
  flag: {
    description: "one of the flags --tty, --interactive",
    accepts: (value) => value === "--tty" || value === "--interactive",
  },
  argument: {
    description: "a command argument (any text but NUL); use it only after the image or the bottle",
    accepts: noNul,
  },
  schemeOption: {
    description: "a registry scheme option, --scheme=http or --scheme=https",
    accepts: (value) => value === "--scheme=http" || value === "--scheme=https",
  },
  imageChange: {
    description: "an image config instruction for --change (CMD, ENTRYPOINT, ENV, EXPOSE, " +
      "LABEL, USER, VOLUME or WORKDIR, then its value, on one line)",
    accepts: (value) =>
      /^(?:CMD|ENTRYPOINT|ENV|EXPOSE|LABEL|USER|VOLUME|WORKDIR) \S[^\n\r\0]*$/.test(value),
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
  target: KINDS.imageReference,
  ref: KINDS.imageReference,
  scheme: KINDS.schemeOption,
  path: KINDS.absolutePath,
  env: KINDS.environmentVariable,
  volume: KINDS.volume,
  label: KINDS.label,
  workdir: KINDS.absolutePath,
  user: KINDS.user,
  network: KINDS.containerName,
  flags: KINDS.flag,
  args: KINDS.argument,
  change: KINDS.imageChange,
};

/** Values for a template's placeholders, by name: a string for `{name}`, a list for `{name...}`. */
export type TemplateValues = Readonly<Record<string, string | readonly string[]>>;

/** A command template: the executable, then its arguments. */
export type Template = readonly string[];

// `{name}` or `{name...}`, but not inside `{{ … }}` (Go templates such as `{{.State.Status}}`).
const PLACEHOLDER = /(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}(?!\})/g;

/** One placeholder as a template uses it. */
export interface PlaceholderUse {
  /** Its name. */
  name: string;
  /** Whether it takes a list (`{name...}`). */
  list: boolean;
}

/**
 * Lists the placeholders a template uses.
 *
 * @param template The template.
 * @returns Each placeholder once, in order of first use.
 */
export function placeholderUses(template: Template): PlaceholderUse[] {
  const uses = new Map<string, PlaceholderUse>();
  for (const element of template) {
    for (const use of usesIn(element)) {
      if (!uses.has(use.name)) uses.set(use.name, use);
    }
  }
  return [...uses.values()];
}

/** The placeholders in one element of a template, in order, repeats included. */
function usesIn(element: string): PlaceholderUse[] {
  // The pattern's first group always matches, so `name` is never the default.
  return [...element.matchAll(PLACEHOLDER)].map(([, name = "", dots]) => ({
    name,
    list: dots === "...",
  }));
}

/**
 * Lists the placeholder names a template uses.
 *
 * @param template The template.
 * @returns The names, each once, in order of first use.
 */
export function placeholdersOf(template: Template): string[] {
  return placeholderUses(template).map((use) => use.name);
}

/**
 * Finds what is wrong with a template's shape, for the registry loader: an
 * executable that is not a fixed word, an element with two list
 * placeholders, a placeholder used both as one value and as a list.
 *
 * @param template The template.
 * @returns The problem, or `undefined`.
 */
export function templateProblem(template: Template): string | undefined {
  const [executable] = template;
  if (executable === "" || (executable !== undefined && usesIn(executable).length > 0)) {
    return `the executable must be a fixed name, not ${JSON.stringify(executable)}`;
  }
  const forms = new Map<string, boolean>();
  for (const element of template) {
    const uses = usesIn(element);
    if (uses.some((use) => use.list) && uses.length > 1) {
      return `${JSON.stringify(element)} mixes a list placeholder with others`;
    }
    for (const { name, list } of uses) {
      if (forms.has(name) && forms.get(name) !== list) {
        return `{${name}} is used both as one value and as a list`;
      }
      forms.set(name, list);
    }
  }
  return undefined;
}

/**
 * Renders a template to an argv. Each value is checked against its
 * placeholder's kind first. An element with `{name}` becomes one argument;
 * an element with `{name...}` becomes one argument per value.
 *
 * @param template The template, e.g. `["docker", "commit", "{container}", "{image}"]`.
 * @param values A value (or list) for every placeholder the template uses.
 * @returns The argv.
 * @throws {BadInputError} When a value is not of its placeholder's kind.
 * @throws {TypeError} When a placeholder is unknown or has no value of the right form.
 *
 * @example
 * ```ts
 * import { renderTemplate } from "@bot-bottle/bot-bottle";
 * renderTemplate(["docker", "run", "--env={env...}", "{image}"], {
 *   env: ["A=1", "B=2"],
 *   image: "busybox:latest",
 * });
 * // ["docker", "run", "--env=A=1", "--env=B=2", "busybox:latest"]
 * ```
 */
export function renderTemplate(template: Template, values: TemplateValues): string[] {
  for (const { name, list } of placeholderUses(template)) {
    const kind = Object.hasOwn(PLACEHOLDERS, name) ? PLACEHOLDERS[name] : undefined;
    if (kind === undefined) throw new TypeError(`unknown placeholder {${name}}`);
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    const items = list ? value : [value];
    if (!Array.isArray(items) || items.some((item) => typeof item !== "string")) {
      throw new TypeError(
        `no value for placeholder {${name}${list ? "..." : ""}}` +
          (list ? " (it takes a list)" : ""),
      );
    }
    for (const item of items as string[]) {
      if (!kind.accepts(item)) {
        throw new BadInputError(
          `${JSON.stringify(item)} is not ${kind.description}, as {${name}} requires`,
        );
      }
    }
  }
  return template.flatMap((element) => {
    const list = usesIn(element).find((use) => use.list);
    if (list) {
      return (values[list.name] as readonly string[]).map((item) =>
        element.replace(PLACEHOLDER, () => item)
      );
    }
    return [element.replace(PLACEHOLDER, (_, name) => values[name] as string)];
  });
}
