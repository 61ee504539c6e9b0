/**
 * What image backends share (Docker, Apple `container`): bottles run from
 * images with the `run` template, snapshots are images named
 * `bot-bottle-committed-<slug>:<tag>`, and artifacts are saved and loaded
 * with `imageSave` and `imageLoad`.
 *
 * @module
 */

import { join } from "node:path";
import type { Agent } from "../lib/state/agent.ts";
import { type ArtifactImages, artifactNameProblem } from "../lib/archive/artifact_names.ts";
import { Backend, type ImportContext, type PullContext, type StartSpec } from "../lib/backend.ts";
import { BadInputError, RegistryAccessError } from "../lib/errors.ts";
import { imageOwnershipProblem } from "../lib/state/ownership.ts";
import { emptyRunConfig, type RunConfig, runValues } from "../lib/state/run_config.ts";
import type { TemplateValues } from "../lib/registry/template.ts";
import { nameFor } from "../lib/registry/naming.ts";

/** The base of the backends whose snapshots are images. */
export abstract class ImageBackend extends Backend {
  /**
   * Creates and starts the bottle `bot-bottle-<slug>` from an image. The
   * default runs the backend's `run` template (docker, Apple container).
   *
   * @param slug The new bottle's slug.
   * @param spec The image, environment, volumes and command.
   * @throws {BackendError} When the backend failed.
   */
  override async startBottle(slug: string, spec: StartSpec): Promise<void> {
    const config = { ...emptyRunConfig(), env: spec.env, volumes: spec.volumes };
    await this.runImage(slug, spec.image, config, spec.command);
  }

  /**
   * Checks, before anything runs, that the backend can start a bottle with
   * this spec: the default renders the `run` template, so every value is
   * checked against its placeholder's kind.
   *
   * @param slug The new bottle's slug.
   * @param spec The image, environment, volumes and command.
   * @throws {BadInputError} When a value is not acceptable.
   */
  override checkStart(slug: string, spec: StartSpec): void {
    const config = { ...emptyRunConfig(), env: spec.env, volumes: spec.volumes };
    this.commands.render("run", this.#runImageValues(slug, spec.image, config, spec.command));
  }

  /**
   * Boots the bottle `bot-bottle-<slug>` from a snapshot, as it ran. The
   * default runs the backend's `run` template with the image's own command.
   *
   * @param agent The bottle.
   * @param artifact The snapshot, as `committed-image` names it.
   * @param config How it ran, when a commit recorded it.
   */
  override async resumeBottle(agent: Agent, artifact: string, config?: RunConfig): Promise<void> {
    await this.runImage(agent.slug, artifact, config ?? emptyRunConfig(), [], agent);
  }

  /**
   * Runs the backend's `run` template: `{container}`, `{slug}`, `{image}`,
   * the run configuration's lists, and `{args...}`.
   *
   * @param slug The bottle's slug.
   * @param image The image or snapshot to run.
   * @param config How to run it.
   * @param args The command and its arguments (empty: the image's own).
   * @param agent The bottle, for messages.
   */
  protected async runImage(
    slug: string,
    image: string,
    config: RunConfig,
    args: string[],
    agent?: Agent,
  ): Promise<void> {
    await this.run("run", this.#runImageValues(slug, image, config, args), agent);
  }

  #runImageValues(slug: string, image: string, config: RunConfig, args: string[]): TemplateValues {
    return { container: this.bottleName(slug), slug, image, ...runValues(config), args };
  }

  /**
   * Why `artifact` is not bottle `slug`'s own snapshot, whatever a state file
   * says, or `undefined` when it is. The default, for image backends: it must
   * be named `bot-bottle-committed-<slug>:<tag>` (see `ownership.ts`).
   *
   * @param slug The bottle's slug.
   * @param _stateDir Its state directory (for backends that keep snapshots there).
   * @param artifact The snapshot, as a state file names it.
   * @returns The problem, for a warning.
   */
  override ownershipProblem(
    slug: string,
    _stateDir: string,
    artifact: string,
  ): Promise<string | undefined> {
    return Promise.resolve(imageOwnershipProblem(this.imageRepository(slug), artifact));
  }

  /**
   * Lists the bottle's snapshots that the backend holds but the history does
   * not record: what a commit or an import left behind when it could not
   * clean up after itself (the engine had died). The default, for image
   * backends, finds the tags of the bottle's repository, other than `:latest`
   * and `:legacy`, among {@linkcode ImageBackend.imageReferences}.
   *
   * @param agent The bottle.
   * @param recorded The artifacts the history records.
   * @returns Their artifacts.
   */
  override async orphanSnapshots(agent: Agent, recorded: readonly string[]): Promise<string[]> {
    const repository = this.imageRepository(agent.slug);
    const keep = new Set([...recorded, this.imageName(agent.slug), `${repository}:legacy`]);
    return (await this.imageReferences(agent)).filter((image) =>
      image.startsWith(`${repository}:`) && !keep.has(image)
    );
  }

  /**
   * Lists the backend's images, `repository:tag`, for
   * {@linkcode ImageBackend.orphanSnapshots}. The default lists none.
   *
   * @param agent The bottle asked about, for messages.
   */
  protected imageReferences(_agent: Agent): Promise<string[]> {
    return Promise.resolve([]);
  }

  /**
   * Writes a snapshot's artifact as one file, to carry to another machine.
   * The default, for image backends, runs the `imageSave` template
   * (`docker save`, `container image save`); smolvm hands over the
   * `.smolmachine` itself.
   *
   * @param agent The bottle.
   * @param artifact The snapshot's artifact.
   * @param dir A private directory to write into.
   * @returns The file, and the name it has in an export archive.
   */
  override async exportArtifact(
    agent: Agent,
    artifact: string,
    dir: string,
  ): Promise<{ path: string; name: string }> {
    const name = `artifact.${this.name}.tar`;
    const path = join(dir, name);
    await this.run("imageSave", { path, image: artifact }, agent);
    return { path, name };
  }

  /**
   * Loads an exported artifact into the backend as snapshot `context.id` of
   * bottle `slug`, and makes it the newest. The default, for image backends,
   * first checks what the artifact's own manifests name: one image, named
   * only `bot-bottle-committed-<from>:<snapshot id>`, and that name not
   * already on another image here (so a load moves no name that is not the
   * bottle's); then runs `imageLoad`, then `tag` to the bottle's names. Like
   * a freeze, it registers the undoing of each change in `context.undo`.
   *
   * @param slug The bottle it now belongs to.
   * @param from The bottle it was exported from (its artifact carries that name).
   * @param file The exported artifact.
   * @param stateDir The bottle's state directory (for backends that keep artifacts there).
   * @param context The snapshot's id, the bottle's newest snapshot before it, the undo steps,
   * and what the artifact names.
   * @returns The snapshot's own artifact, and what `committed-image` names.
   * @throws {BadInputError} When the artifact names another image, or more
   * than one, or its name is on another image here; nothing was loaded.
   */
  override async importArtifact(
    slug: string,
    from: string,
    file: string,
    _stateDir: string,
    { id, previous, undo, source, snapshotId, images }: ImportContext,
  ): Promise<{ artifact: string; current: string }> {
    const loaded = `${this.imageRepository(from)}:${snapshotId}`;
    const artifact = `${this.imageRepository(slug)}:${id}`;
    const current = this.imageName(slug);
    // A name the load brings that this machine did not have is only a carrier. (The
    // check's own answer: asking the engine again a moment later costs a call.)
    const carrier = !(await this.#checkLoaded({
      source,
      from,
      snapshotId,
      ...images === undefined ? {} : { images },
    }));
    const existed = loaded === artifact ? !carrier : await this.snapshotExists(artifact);
    if (existed && loaded !== artifact) {
      throw new BadInputError(
        `${source} was not imported: the name ${artifact} is already on an image that the ` +
          `history of bottle "${slug}" does not record (a leftover); run "bot-bottle prune ` +
          `${slug}" and import again; nothing was loaded`,
      );
    }
    // Only names this import brings are removed again; a name that was here stays.
    const created = [carrier ? loaded : undefined, existed ? undefined : artifact]
      .filter((name, n, all): name is string => name !== undefined && all.indexOf(name) === n);
    this.deferUndo(
      undo,
      `the half-imported snapshot ${created.join(", ")}`,
      `remove it with the backend's image removal command`,
      async () => {
        for (const name of created) {
          if (!(await this.snapshotExists(name))) continue;
          if (!(await this.owns(name === loaded ? from : slug, _stateDir, name))) continue;
          await this.run("imageDelete", { image: name });
        }
      },
    );
    await this.run("imageLoad", { path: file });
    if (loaded !== artifact) {
      await this.run("tag", { image: loaded, target: artifact });
      if (carrier) await this.run("imageDelete", { image: loaded });
    }
    this.undoMove(undo, current, previous);
    await this.run("tag", { image: artifact, target: current });
    return { artifact, current };
  }

  /**
   * Checks, before anything is loaded or written, that an exported artifact
   * may be imported. The default, for image backends: the artifact's own
   * manifests name one image, only `bot-bottle-committed-<from>:<snapshot
   * id>`, and that name is not already on another image here (so a load
   * moves no name that is not the bottle's).
   *
   * @param source The `.bottle` file, for messages.
   * @param from The bottle it was exported from.
   * @param snapshotId The snapshot's id in the file.
   * @param images What the artifact's own manifests name.
   * @throws {BadInputError} When it may not be imported; nothing was changed.
   */
  override async checkImport(
    check: { source: string; from: string; snapshotId: string; images?: ArtifactImages },
  ): Promise<void> {
    await this.#checkLoaded(check);
  }

  /** {@linkcode checkImport}'s checks; returns whether the snapshot's name is here already. */
  async #checkLoaded(
    { source, from, snapshotId, images }: {
      source: string;
      from: string;
      snapshotId: string;
      images?: ArtifactImages;
    },
  ): Promise<boolean> {
    const loaded = `${this.imageRepository(from)}:${snapshotId}`;
    const problem = images
      ? artifactNameProblem(images, loaded)
      : "its artifact's manifests were not read";
    if (problem) {
      throw new BadInputError(
        `${source} is refused: ${problem}; nothing was loaded: ask for a file that ` +
          `"bot-bottle export" wrote`,
      );
    }
    const exists = await this.snapshotExists(loaded);
    if (exists && !(await this.holdsImage(loaded, images!))) {
      throw new BadInputError(
        `${source} is refused: its snapshot is named "${loaded}", which here names another ` +
          `image, and loading would move that name; remove or rename that image first, or ` +
          `import on a machine without it; nothing was loaded`,
      );
    }
    return exists;
  }

  /**
   * Tells whether the image named `name` here is the very image an artifact
   * holds, so that loading it moves nothing. The default cannot tell: no.
   *
   * @param name An image name that exists here.
   * @param images What the artifact's manifests say.
   */
  protected holdsImage(_name: string, _images: ArtifactImages): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** The image repository of a bottle's snapshots, from the naming: `bot-bottle-committed-<slug>` by default. */
  imageRepository(slug: string): string {
    return nameFor(this.naming.snapshots, slug);
  }

  /** The newest snapshot's image: `bot-bottle-committed-<slug>:latest`. */
  imageName(slug: string): string {
    return `${this.imageRepository(slug)}:latest`;
  }

  /**
   * Adds the undo step of moving an image name (`:latest`) to a new
   * snapshot, for image backends: tagging the previous snapshot with it
   * again, or, without one, removing the name.
   *
   * @param undo The undo steps.
   * @param current The name that moved.
   * @param previous The snapshot it named before, if any.
   */
  undoMove(undo: AsyncDisposableStack, current: string, previous?: string): void {
    this.deferUndo(
      undo,
      `the move of ${current} to the new snapshot`,
      previous
        ? `point it back with: ${this.commands.label("tag")} ${previous} ${current}`
        : `remove it with: ${this.commands.label("imageDelete")} ${current}`,
      async () => {
        if (previous) await this.run("tag", { image: previous, target: current });
        else if (await this.snapshotExists(current)) {
          await this.run("imageDelete", { image: current });
        }
      },
    );
  }

  /**
   * Pulls the snapshot at `ref` through {@linkcode ImageBackend.pullImage},
   * checks its digest, and tags it as snapshot `id` of the bottle and as
   * `:latest`, each step's undoing in `context.undo`.
   */
  override async pullSnapshot(
    slug: string,
    ref: string,
    _stateDir: string,
    { id, previous, undo, source, digest }: PullContext,
  ): Promise<{ artifact: string; current: string }> {
    const artifact = `${this.imageRepository(slug)}:${id}`;
    const current = this.imageName(slug);
    if (await this.snapshotExists(artifact)) {
      throw new BadInputError(
        `${source} was not pulled: the name ${artifact} is already on an image that the ` +
          `history of bottle "${slug}" does not record (a leftover); run "bot-bottle prune ` +
          `${slug}" and pull again; nothing was written`,
      );
    }
    await this.pullImage(ref, async (digestOf) => {
      const pulled = await digestOf();
      if (pulled !== digest) {
        throw new BadInputError(
          `digest mismatch: ${ref} is ${pulled ?? "of an unknown digest"} in the registry, but ` +
            `the bottle pushed there says its snapshot is ${digest}; the tag was moved or ` +
            `overwritten since the push: nothing was written; push the bottle again`,
        );
      }
      this.deferUndo(
        undo,
        `the half-pulled snapshot ${artifact}`,
        `remove it with: ${this.commands.label("imageDelete")} ${artifact}`,
        async () => {
          if (await this.snapshotExists(artifact)) {
            await this.run("imageDelete", { image: artifact });
          }
        },
      );
      await this.run("tag", { image: ref, target: artifact });
      this.undoMove(undo, current, previous);
      await this.run("tag", { image: artifact, target: current });
    });
    return { artifact, current };
  }

  /**
   * Pulls a bottle's companion through {@linkcode ImageBackend.pullImage},
   * saves it with `imageSave` and reads the tar of its one layer; no name is
   * left here.
   */
  override async pullCompanion(ref: string, dir: string): Promise<Uint8Array> {
    let layer: Uint8Array | undefined;
    await this.pullImage(ref, async () => {
      const path = join(dir, `companion.${this.name}.tar`);
      await this.run("imageSave", { path, image: ref });
      // Loaded here: tar-stream and node:crypto cost every other command tens of ms.
      const { savedLayer } = await import("../lib/archive/companion.ts");
      layer = await savedLayer(path, ref);
    });
    if (layer === undefined) throw new TypeError("pullImage did not run its adopt step");
    return layer;
  }

  /** Pulls `ref` through {@linkcode ImageBackend.pullImage}, leaving nothing: whether it was found. */
  override async remoteExists(ref: string, _dir: string): Promise<boolean> {
    try {
      await this.pullImage(ref, () => Promise.resolve());
      return true;
    } catch (error) {
      if (error instanceof RegistryAccessError && error.kind === "unknown") return false;
      throw error;
    }
  }

  /**
   * Pulls the image `ref` and runs `adopt` while `ref` is still here, with a
   * way to ask the digest the registry gave it (asked only by who needs it:
   * on Apple `container` it is one more command); afterwards no name it
   * pulled through is left. The default: this backend cannot pull.
   *
   * @param ref The image's reference, with its tag.
   * @param adopt What to do with the pulled image, given how to read its
   * digest (`undefined` when the engine does not tell it).
   */
  protected pullImage(
    _ref: string,
    _adopt: (digest: () => Promise<string | undefined>) => Promise<void>,
  ): Promise<void> {
    return Promise.reject(this.noRegistry("pull"));
  }
}
