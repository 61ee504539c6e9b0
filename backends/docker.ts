/**
 * The Docker freezer: `docker commit` of the bottle's container into
 * `bot-bottle-committed-<slug>:latest`.
 *
 * @module
 */

import type { Agent } from "../lib/agent.ts";
import { BackendError, BackendUnavailableError } from "../lib/errors.ts";
import { Freezer } from "../lib/freezer.ts";

/**
 * Snapshots a Docker bottle with `docker commit`, which pauses the container
 * while it copies the filesystem changes and keeps the image config (command,
 * entrypoint, environment, working directory, user). Volumes, bind mounts,
 * published ports and memory are not captured.
 *
 * The snapshot carries the label `bot-bottle.slug=<slug>`. Re-committing
 * moves the tag to the new image; the previous image, left untagged, is then
 * removed (`docker image prune` filtered by that label), unless a container
 * still uses it, in which case a later commit removes it.
 */
export class DockerFreezer extends Freezer {
  /** The registry commands this freezer runs. */
  static override readonly requiredCommands = ["commit", "pruneSnapshots", "listRunning"];

  /** The committed image of a bottle: `bot-bottle-committed-<slug>:latest`. */
  imageName(slug: string): string {
    return `bot-bottle-committed-${slug}:latest`;
  }

  /** Runs `docker commit`, then removes the image a re-commit left untagged. */
  protected override async freeze(agent: Agent): Promise<string> {
    const image = this.imageName(agent.slug);
    const hadSnapshot = (await agent.state.readCommittedImage()) !== undefined;
    // No separate state probe: docker commit's own error says when the
    // container is missing or the engine is down.
    await this.run("commit", {
      slug: agent.slug,
      container: this.bottleName(agent.slug),
      image,
    }, agent);
    if (hadSnapshot) {
      try {
        await this.run("pruneSnapshots", { slug: agent.slug }, agent);
      } catch (error) {
        if (!(error instanceof BackendError)) throw error;
        this.log(`warning: the previous snapshot image was not removed: ${error.message}`);
      }
    }
    return image;
  }

  /** `docker save -o <slug>.tar <image>`. */
  override exportCommand(agent: Agent, artifact: string): string {
    return `docker save -o ${agent.slug}.tar ${artifact}`;
  }

  /** The slugs of the running containers named `bot-bottle-<slug>`. */
  override async runningSlugs(): Promise<string[]> {
    const { stdout } = await this.run("listRunning", {});
    const prefix = this.bottleName("");
    return stdout.split("\n")
      .map((line) => line.trim())
      .filter((name) => name.startsWith(prefix))
      .map((name) => name.slice(prefix.length));
  }

  /** Names an unreachable engine, a refused socket, or a missing container. */
  protected override explainFailure(error: BackendError, agent?: Agent): BackendError {
    const said = error.stderr.trim().split("\n").at(-1) ?? "";
    if (
      /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i.test(
        said,
      )
    ) {
      return new BackendUnavailableError(
        `cannot reach the Docker engine (${said}); start Docker and try again`,
        error,
        { cause: error },
      );
    }
    if (/permission denied.*docker/i.test(said)) {
      return new BackendUnavailableError(
        `not allowed to use the Docker engine (${said}); add your user to the "docker" group ` +
          `or run as a user that may use Docker`,
        error,
        { cause: error },
      );
    }
    if (agent && /No such container/i.test(said)) {
      return new BackendError(
        `bottle "${agent.slug}" has no container "${this.bottleName(agent.slug)}" on Docker; ` +
          `it has stopped and been removed, or was started elsewhere; see "docker ps -a"`,
        error,
        { cause: error },
      );
    }
    return error;
  }
}

export default DockerFreezer;
