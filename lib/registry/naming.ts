/**
 * The names a backend gives what it makes, as registry data (`naming` in a
 * backend's entry): its bottles (containers, machines) and the image
 * repository of their snapshots. Each is a form with one `{slug}`, so a
 * Docker-compatible engine can name them its own way; the built-in entries
 * spell out the names bot-bottle has always used, which are also what an
 * entry without `naming` gets.
 *
 * @module
 */

import * as v from "valibot";

/** A backend's name forms; each holds `{slug}` once. */
export interface Naming {
  /** The running bottle's name, e.g. `bot-bottle-{slug}`. */
  bottle: string;
  /**
   * The image repository of a bottle's snapshots, e.g.
   * `bot-bottle-committed-{slug}`; its tags are the snapshot ids, `latest`
   * (the newest) and `legacy` (one made before histories were kept).
   */
  snapshots: string;
}

/** The names of an entry without `naming`: those the built-in entries spell out. */
export const DEFAULT_NAMING: Readonly<Naming> = {
  bottle: "bot-bottle-{slug}",
  snapshots: "bot-bottle-committed-{slug}",
};

const SLUG = "{slug}";

/**
 * A bottle form: a container or machine name (Docker's rule, which Apple's
 * and smolvm's fit) around one `{slug}`; a slug starts with a letter or digit.
 */
const BOTTLE_FORM = /^(?:[a-zA-Z0-9][a-zA-Z0-9_.-]*)?\{slug\}[a-zA-Z0-9_.-]*$/;

/**
 * A snapshot repository form: an image repository (lower-case path
 * components, as OCI references have them) with `{slug}` once where a run of
 * letters and digits may stand; a slug is such runs joined by `-`, which a
 * component allows between them.
 */
const REPOSITORY_FORM = (() => {
  const token = String.raw`(?:[a-z0-9]|\{slug\})`;
  const component = String.raw`${token}+(?:(?:[._]|__|-+)${token}+)*`;
  const once = String.raw`(?=(?:(?!\{slug\}).)*\{slug\}(?:(?!\{slug\}).)*$)`;
  return new RegExp(`^${once}${component}(?:/${component})*$`);
})();

/** The schema of `naming` in a backend's registry entry. */
export const NamingSchema = v.pipe(
  v.strictObject({
    bottle: v.pipe(
      v.string(),
      v.regex(
        BOTTLE_FORM,
        'the bottle name must hold "{slug}" once and otherwise only letters, digits, "_", "." ' +
          'and "-", starting with a letter or digit',
      ),
      v.description('The running bottle\'s name, with "{slug}" once, e.g. "bot-bottle-{slug}".'),
    ),
    snapshots: v.exactOptional(v.pipe(
      v.string(),
      v.regex(
        REPOSITORY_FORM,
        'the snapshot repository must hold "{slug}" once and otherwise only lower-case ' +
          'letters, digits, "/", "_", "." and "-", as an image repository',
      ),
      v.description(
        'The image repository of a bottle\'s snapshots, with "{slug}" once, e.g. ' +
          '"bot-bottle-committed-{slug}"; tagged with the snapshot ids, "latest" and "legacy". ' +
          "For image backends.",
      ),
    )),
  }),
  v.description(
    "The names the backend gives what it makes (default: the built-in ones, " +
      '"bot-bottle-{slug}" and "bot-bottle-committed-{slug}"). A listing template that filters ' +
      "by name (docker's listAll) must match the bottle form.",
  ),
);

/**
 * A backend's naming, from its registry entry's `naming` (what it leaves out
 * is the default's).
 *
 * @param naming The entry's `naming`, if it has one.
 * @returns Every form.
 */
export function namingOf(naming?: { bottle: string; snapshots?: string }): Naming {
  return { ...DEFAULT_NAMING, ...naming };
}

/**
 * The name a form gives bottle `slug`.
 *
 * @param form A form such as `bot-bottle-{slug}`.
 * @param slug The bottle's slug.
 * @returns The name, e.g. `bot-bottle-dev-abc12`.
 */
export function nameFor(form: string, slug: string): string {
  return form.replace(SLUG, () => slug);
}

/**
 * The slug in a name a form made, or `undefined` when the form did not make it.
 *
 * @param form A form such as `bot-bottle-{slug}`.
 * @param name A name, e.g. `bot-bottle-dev-abc12`.
 * @returns The part that stands for `{slug}` (not checked to be a slug), e.g. `dev-abc12`.
 */
export function slugIn(form: string, name: string): string | undefined {
  const [prefix = "", suffix = ""] = form.split(SLUG);
  if (name.length <= prefix.length + suffix.length) return undefined;
  if (!name.startsWith(prefix) || !name.endsWith(suffix)) return undefined;
  return name.slice(prefix.length, name.length - suffix.length);
}
