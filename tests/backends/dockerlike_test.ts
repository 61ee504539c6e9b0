// A Docker-compatible engine declared by a user registry alone: the backend
// `dockerlike` reuses the built-in docker module ("builtin:docker") with its
// own executable, error wording and hints. The executable is a shim first on
// PATH that runs the real docker and rewrites its errors into podman's
// wording, so only the registry's patterns can tell a missing container or
// image from a failure. The backend contract (contract.ts, registered in
// contract_test.ts with contract_fixtures.ts's dockerlikeFixture) runs start →
// commit → destroy --keep-snapshot → resume → ls → destroy on it for real,
// with a missing container and a missing image reported as such; this file
// checks that the shim really hides docker's words.

import { equal } from "node:assert/strict";
import { dockerTest } from "../_helpers/docker.ts";
import { tempHome } from "../_helpers/temp_home.ts";
import { dockerlikeEnv } from "./contract_fixtures.ts";

dockerTest(
  "the dockerlike shim speaks podman: docker's words are gone from its errors",
  async () => {
    await using home = await tempHome();
    const env = { ...home.env, ...await dockerlikeEnv(home.home) };
    const run = async (...args: string[]) =>
      new TextDecoder().decode(
        (await new Deno.Command("dockerlike", { args, env, stdout: "null", stderr: "piped" })
          .output()).stderr,
      );
    equal(
      await run("image", "inspect", "bot-bottle-no-such-image-x"),
      "Error: bot-bottle-no-such-image-x:latest: image not known\n",
    );
    equal(
      await run("inspect", "bot-bottle-no-such-container-x"),
      'Error: no container with name or ID "bot-bottle-no-such-container-x" found\n',
    );
  },
);
