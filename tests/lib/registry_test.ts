import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import DockerFreezer from "../../backends/docker.ts";
import { ImageBackend } from "../../backends/image.ts";
import { BadInputError } from "../../lib/errors.ts";
import { loadRegistry, validateBuiltinRegistry } from "../../lib/registry/registry.ts";
import { PLACEHOLDERS } from "../../lib/registry/template.ts";

// A registry file must name its freezer modules relative to itself, so temp
// registries live in a temporary folder inside tests/, two levels below the
// repository root: "../../backends/docker.ts" then resolves to the real module.
const DOCKER_MODULE = "../../backends/docker.ts";
const BUILTIN = JSON.parse(
  await Deno.readTextFile(new URL("../../registry.json", import.meta.url)),
);

interface TempRegistry extends AsyncDisposable {
  dir: string;
  /** Writes `name` in the folder: JSON for an object, the text as it is for a string. */
  write(name: string, content: unknown): Promise<string>;
}

async function tempRegistryDir(): Promise<TempRegistry> {
  const dir = await Deno.makeTempDir({
    dir: fileURLToPath(new URL("../", import.meta.url)),
    prefix: ".registry-",
  });
  return {
    dir,
    async write(name, content) {
      const path = join(dir, name);
      await Deno.writeTextFile(
        path,
        typeof content === "string" ? content : JSON.stringify(content, null, 2),
      );
      // Whatever the umask: a registry file writable by others is refused.
      await Deno.chmod(path, 0o644);
      return path;
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * The built-in registry, its freezer paths rewritten for a folder `depth`
 * levels below the repository root, then changed by `edit`.
 */
function registryWith(
  edit: (registry: typeof BUILTIN) => void = () => {},
  depth = 2,
): typeof BUILTIN {
  const registry = structuredClone(BUILTIN);
  for (const backend of Object.values(registry.backends) as { freezer: string }[]) {
    backend.freezer = `${"../".repeat(depth)}${backend.freezer.slice(2)}`;
  }
  edit(registry);
  return registry;
}

/** The names of the built-in backends, quoted as error messages list them. */
const KNOWN = Object.keys(BUILTIN.backends).map((name) => `"${name}"`).join(", ");

async function rejectsInvalid(content: unknown, expected: RegExp, name = "registry.json") {
  await using temp = await tempRegistryDir();
  const path = await temp.write(name, content);
  await rejects(loadRegistry({ path }), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    match(error.message, new RegExp(`^registry ${escape(path)} is invalid: `));
    match(error.message, expected);
    return true;
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The built-in registry

Deno.test("loadRegistry() loads the built-in registry with the docker backend", async () => {
  const registry = await loadRegistry({});
  equal(registry.source, "built-in");
  deepStrictEqual([...registry.backends.keys()], ["docker", "macos-container", "smolmachines"]);
  const docker = registry.resolve("docker");
  equal(docker.freezer, DockerFreezer);
  equal(docker.module, "./backends/docker.ts");
  deepStrictEqual(docker.aliases, [""]);
  deepStrictEqual(docker.commands.commit, BUILTIN.backends.docker.commands.commit);
});

Deno.test("the built-in registry, which runs unchecked, passes every check a registry file gets", async () => {
  const checked = await validateBuiltinRegistry();
  const loaded = await loadRegistry({});
  deepStrictEqual([...checked.backends.keys()], [...loaded.backends.keys()]);
  for (const [name, backend] of checked.backends) {
    deepStrictEqual(loaded.resolve(name), backend);
  }
});

Deno.test('resolve("") gives docker, for state written before the backend field', async () => {
  const registry = await loadRegistry({});
  equal(registry.resolve("").name, "docker");
  equal(registry.resolve(""), registry.resolve("docker"));
});

Deno.test('getFreezer("") returns a DockerFreezer serving "docker" and ""', async () => {
  const registry = await loadRegistry({});
  const freezer = registry.getFreezer("");
  equal(freezer instanceof DockerFreezer, true);
  equal(freezer.backend, "docker");
  deepStrictEqual(freezer.names, ["docker", ""]);
});

Deno.test("resolve() of an unknown backend lists the known backends", async () => {
  const registry = await loadRegistry({});
  for (const name of ["podman", "Docker", "constructor", "toString"]) {
    throws(() => registry.resolve(name), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(error.message, `unknown backend ${JSON.stringify(name)}; known backends: ${KNOWN}`);
      return true;
    });
    throws(() => registry.getFreezer(name), BadInputError);
  }
});

Deno.test("resolve() names the registry file when the backend is unknown", async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write("registry.json", registryWith());
  const registry = await loadRegistry({ path });
  equal(registry.source, path);
  throws(() => registry.resolve("podman"), {
    name: "BadInputError",
    message: `unknown backend "podman"; known backends: ${KNOWN} (from the registry ${path})`,
  });
});

// Registry files

Deno.test("loadRegistry() loads a valid registry file and its freezer relative to it", async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write(
    "registry.json",
    registryWith((registry) => {
      registry.backends.docker.commands.commit = ["docker", "commit", "{container}", "{image}"];
      registry.aliases = { "": "docker", "moby": "docker" };
    }),
  );
  const registry = await loadRegistry({ path });
  const docker = registry.resolve("moby");
  equal(docker.freezer, DockerFreezer);
  deepStrictEqual(docker.aliases, ["", "moby"]);
  deepStrictEqual(docker.commands.commit, ["docker", "commit", "{container}", "{image}"]);
  deepStrictEqual(registry.getFreezer("moby").names, ["docker", "", "moby"]);
});

Deno.test("loadRegistry() honours BOT_BOTTLE_REGISTRY", async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write(
    "registry.json",
    registryWith((registry) => {
      registry.backends.docker.description = "from BOT_BOTTLE_REGISTRY";
    }),
  );
  const saved = Deno.env.get("BOT_BOTTLE_REGISTRY");
  try {
    Deno.env.set("BOT_BOTTLE_REGISTRY", path);
    const registry = await loadRegistry();
    equal(registry.source, path);
    equal(registry.resolve("docker").description, "from BOT_BOTTLE_REGISTRY");

    const missing = join(temp.dir, "missing.json");
    Deno.env.set("BOT_BOTTLE_REGISTRY", missing);
    await rejects(loadRegistry(), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `the registry ${missing} (from BOT_BOTTLE_REGISTRY) does not exist; check the path, ` +
          `or unset BOT_BOTTLE_REGISTRY to use the built-in registry`,
      );
      return true;
    });

    Deno.env.set("BOT_BOTTLE_REGISTRY", "");
    equal((await loadRegistry()).source, "built-in");
  } finally {
    if (saved === undefined) Deno.env.delete("BOT_BOTTLE_REGISTRY");
    else Deno.env.set("BOT_BOTTLE_REGISTRY", saved);
  }
  equal(Deno.env.get("BOT_BOTTLE_REGISTRY"), saved);
});

Deno.test("loadRegistry() prefers an explicit path over BOT_BOTTLE_REGISTRY", async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write("registry.json", registryWith());
  const saved = Deno.env.get("BOT_BOTTLE_REGISTRY");
  try {
    Deno.env.set("BOT_BOTTLE_REGISTRY", join(temp.dir, "missing.json"));
    equal((await loadRegistry({ path })).source, path);
  } finally {
    if (saved === undefined) Deno.env.delete("BOT_BOTTLE_REGISTRY");
    else Deno.env.set("BOT_BOTTLE_REGISTRY", saved);
  }
});

// Rejections

Deno.test("loadRegistry() rejects an unknown placeholder, naming backend, field and known ones", async () => {
  await rejectsInvalid(
    registryWith((registry) => {
      registry.backends.docker.commands.commit = ["docker", "commit", "{owner}"];
    }),
    new RegExp(
      `backends\\.docker\\.commands\\.commit: unknown placeholder \\{owner\\}; known placeholders: ` +
        `${Object.keys(PLACEHOLDERS).map((name) => `\\{${name}\\}`).join(", ")}$`,
    ),
  );
});

Deno.test("loadRegistry() rejects a placeholder named like an Object.prototype member", async () => {
  await rejectsInvalid(
    registryWith((registry) => {
      registry.backends.docker.commands.commit = ["docker", "commit", "{constructor}"];
    }),
    /backends\.docker\.commands\.commit: unknown placeholder \{constructor\}/,
  );
});

Deno.test("loadRegistry() rejects an executable that is a placeholder", async () => {
  await rejectsInvalid(
    registryWith((registry) => {
      registry.backends.docker.commands.commit = ["{container}", "commit"];
    }),
    /backends\.docker\.commands\.commit: the executable must be a fixed name, not "\{container\}"$/,
  );
  await rejectsInvalid(
    registryWith((registry) => {
      registry.backends.docker.commands.listRunning = ["docker-{slug}", "ps"];
    }),
    /backends\.docker\.commands\.listRunning: the executable must be a fixed name/,
  );
  await rejectsInvalid(
    registryWith((registry) => {
      registry.backends.docker.commands.listRunning = [""];
    }),
    /backends\.docker\.commands\.listRunning: the executable must be a fixed name, not ""$/,
  );
});

Deno.test("loadRegistry() rejects a freezer module that does not exist", async () => {
  await rejectsInvalid(
    registryWith((registry) => {
      registry.backends.docker.freezer = "../../backends/nope.ts";
    }),
    /backends\.docker\.freezer: cannot load \.\.\/\.\.\/backends\/nope\.ts: /,
  );
});

Deno.test("loadRegistry() rejects a module whose default export is not a Freezer subclass", async () => {
  await using temp = await tempRegistryDir();
  const modules: Record<string, string> = {
    "plain_class.ts": "export default class NotAFreezer { static requiredCommands = []; }\n",
    "no_default.ts": 'export { DockerFreezer } from "../../backends/docker.ts";\n',
    "function.ts": "export default function freeze() {}\n",
    "base.ts": 'export { Freezer as default } from "../../lib/freezer.ts";\n',
  };
  for (const [name, source] of Object.entries(modules)) {
    await temp.write(name, source);
    const path = await temp.write(
      "registry.json",
      registryWith((registry) => {
        registry.backends.docker.freezer = `./${name}`;
      }),
    );
    await rejects(loadRegistry({ path }), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `registry ${path} is invalid: backends.docker.freezer: ./${name} must export a Freezer ` +
          `subclass as its default export`,
      );
      return true;
    }, name);
  }
});

Deno.test("loadRegistry() rejects an alias that points to a missing backend", async () => {
  await rejectsInvalid(
    registryWith((registry) => {
      registry.aliases = { "": "podman" };
    }),
    /: aliases\."" points to "podman", which is not a backend$/,
  );
});

Deno.test("loadRegistry() rejects an alias that shadows a backend name", async () => {
  await rejectsInvalid(
    registryWith((registry) => {
      registry.aliases = { "docker": "docker" };
    }),
    /aliases\."docker" is also a backend's name$/,
  );
});

Deno.test("loadRegistry() rejects a registry missing a command the freezer requires", async () => {
  for (const command of DockerFreezer.Backend.requiredCommands) {
    await rejectsInvalid(
      registryWith((registry) => {
        delete registry.backends.docker.commands[command];
      }),
      new RegExp(
        `backends\\.docker\\.commands\\.${command} is missing; ${escape(DOCKER_MODULE)} needs it$`,
      ),
    );
  }
});

const SCHEMA_VIOLATIONS: [string, unknown, RegExp][] = [
  ["no backends", { aliases: {} }, /: backends: .*"backends"/],
  ["an unknown top-level key", registryWith((r) => (r.extra = 1)), /: extra: .*"extra"/],
  [
    "an unknown backend key",
    registryWith((r) => (r.backends.docker.image = "x")),
    /: backends\.docker\.image: /,
  ],
  [
    "an empty template",
    registryWith((r) => (r.backends.docker.commands.commit = [])),
    /: backends\.docker\.commands\.commit: a command template needs at least the executable$/,
  ],
  [
    "a template element that is not a string",
    registryWith((r) => (r.backends.docker.commands.commit = ["docker", 5])),
    /: backends\.docker\.commands\.commit\.1: /,
  ],
  [
    "the backend name Docker",
    registryWith((r) => {
      r.backends.Docker = r.backends.docker;
      delete r.backends.docker;
      r.aliases = {};
    }),
    /: backends\.Docker: backend names are lower-case words joined by -$/,
  ],
  [
    "a command name that is not camelCase",
    registryWith((r) => (r.backends.docker.commands["prune-snapshots"] = ["docker"])),
    /: backends\.docker\.commands\.prune-snapshots: command names are camelCase$/,
  ],
  [
    "an absolute freezer path",
    registryWith((r) => (r.backends.docker.freezer = "/abs/docker.ts")),
    /: backends\.docker\.freezer: the freezer must be a relative path to a \.ts module, or "builtin:<backend>"$/,
  ],
  [
    "a bottle name form without {slug}",
    registryWith((r) => (r.backends.docker.naming.bottle = "bot-bottle")),
    /: backends\.docker\.naming\.bottle: the bottle name must hold "\{slug\}" once /,
  ],
  [
    "a bottle name form with {slug} twice",
    registryWith((r) => (r.backends.docker.naming.bottle = "{slug}-{slug}")),
    /: backends\.docker\.naming\.bottle: the bottle name must hold "\{slug\}" once /,
  ],
  [
    "a snapshot repository form that is not an image repository",
    registryWith((r) => (r.backends.docker.naming.snapshots = "Snap_{slug}:x")),
    /: backends\.docker\.naming\.snapshots: the snapshot repository must hold "\{slug\}" once /,
  ],
  ["a JSON array", [], /is invalid: /],
  ["JSON null", null, /is invalid: Invalid type: Expected Object but received null$/],
];

for (const [what, content, expected] of SCHEMA_VIOLATIONS) {
  Deno.test(`loadRegistry() rejects a registry with ${what}`, async () => {
    await rejectsInvalid(JSON.stringify(content), expected);
  });
}

Deno.test("loadRegistry() rejects a file that is not JSON, naming the file", async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write("registry.json", "{ backends: ");
  await rejects(loadRegistry({ path }), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(error.message, `the registry ${path} is not valid JSON (at line 1, column 3); fix it`);
    equal(error.cause instanceof SyntaxError, true);
    return true;
  });
});

Deno.test("loadRegistry() names an empty file and a directory plainly", async () => {
  await using temp = await tempRegistryDir();
  const empty = await temp.write("empty.json", "");
  await rejects(
    loadRegistry({ path: empty }),
    (error: unknown) =>
      error instanceof BadInputError &&
      error.message === `the registry ${empty} is not valid JSON (the file is empty); fix it`,
  );
  await rejects(
    loadRegistry({ path: temp.dir }),
    (error: unknown) =>
      error instanceof BadInputError &&
      error.message === `the registry ${temp.dir} is not a file; point it at a registry JSON file`,
  );
});

Deno.test("loadRegistry() rejects a missing file, naming the file", async () => {
  await using temp = await tempRegistryDir();
  const path = join(temp.dir, "missing.json");
  await rejects(loadRegistry({ path }), (error: unknown) => {
    if (!(error instanceof BadInputError)) return false;
    equal(error.message, `the registry ${path} does not exist; check the path`);
    equal(error.cause instanceof Deno.errors.NotFound, true);
    return true;
  });
});

Deno.test("loadRegistry() loads a file whose path holds URL characters (# ? %)", async () => {
  await using temp = await tempRegistryDir();
  const dir = join(temp.dir, "a#b?c%20d");
  await Deno.mkdir(dir);
  const path = join(dir, "registry.json");
  await Deno.writeTextFile(path, JSON.stringify(registryWith(() => {}, 3)));
  equal((await loadRegistry({ path })).resolve("").name, "docker");
});

// Registry files others can write

for (const mode of [0o664, 0o646, 0o666, 0o620]) {
  Deno.test(`loadRegistry() refuses a registry file of mode ${mode.toString(8)}, saying how to fix it`, async () => {
    await using temp = await tempRegistryDir();
    const path = await temp.write("registry.json", registryWith());
    await Deno.chmod(path, mode);
    await rejects(loadRegistry({ path }), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `the registry ${path} is writable by group or others (mode 0${mode.toString(8)}), so ` +
          `they could choose the commands bot-bottle runs; run "chmod go-w ${path}"`,
      );
      return true;
    });
    await Deno.chmod(path, mode & ~0o022);
    equal((await loadRegistry({ path })).source, path);
  });
}

Deno.test("loadRegistry() refuses a group-writable BOT_BOTTLE_REGISTRY, naming the variable", async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write("registry.json", registryWith());
  await Deno.chmod(path, 0o664);
  const saved = Deno.env.get("BOT_BOTTLE_REGISTRY");
  try {
    Deno.env.set("BOT_BOTTLE_REGISTRY", path);
    await rejects(loadRegistry(), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `the registry ${path} (from BOT_BOTTLE_REGISTRY) is writable by group or others ` +
          `(mode 0664), so they could choose the commands bot-bottle runs; run ` +
          `"chmod go-w ${path}", or unset BOT_BOTTLE_REGISTRY to use the built-in registry`,
      );
      return true;
    });
  } finally {
    if (saved === undefined) Deno.env.delete("BOT_BOTTLE_REGISTRY");
    else Deno.env.set("BOT_BOTTLE_REGISTRY", saved);
  }
});

Deno.test("loadRegistry() refuses a freezer module writable by group or others, before loading it", async () => {
  await using temp = await tempRegistryDir();
  // Loading this module would leave a mark: a refused module must never run.
  const module = await temp.write(
    "my_freezer.ts",
    'globalThis.__botBottleLoaded = true;\nexport { default } from "../../backends/docker.ts";\n',
  );
  const path = await temp.write(
    "registry.json",
    registryWith((registry) => {
      registry.backends.docker.freezer = "./my_freezer.ts";
    }),
  );
  for (const mode of [0o664, 0o646]) {
    await Deno.chmod(module, mode);
    await rejects(loadRegistry({ path }), (error: unknown) => {
      if (!(error instanceof BadInputError)) return false;
      equal(
        error.message,
        `registry ${path} is invalid: backends.docker.freezer: ${module} is writable by group ` +
          `or others (mode 0${mode.toString(8)}), so they could run code as you; ` +
          `run "chmod go-w ${module}"`,
      );
      return true;
    });
    equal((globalThis as { __botBottleLoaded?: boolean }).__botBottleLoaded, undefined);
  }
  await Deno.chmod(module, 0o644);
  equal((await loadRegistry({ path })).resolve("docker").freezer, DockerFreezer);
  equal((globalThis as { __botBottleLoaded?: boolean }).__botBottleLoaded, true);
});

Deno.test("loadRegistry() validates the templates of a BOT_BOTTLE_REGISTRY file like the built-in ones", async () => {
  await using temp = await tempRegistryDir();
  const saved = Deno.env.get("BOT_BOTTLE_REGISTRY");
  const cases: [(registry: typeof BUILTIN) => void, RegExp][] = [
    [
      (registry) => (registry.backends.docker.commands.commit = ["docker", "commit", "{owner}"]),
      /: backends\.docker\.commands\.commit: unknown placeholder \{owner\}; known placeholders: /,
    ],
    [
      (registry) => (registry.backends.docker.commands.commit = ["sh", "-c", "{args...}{slug}"]),
      /: backends\.docker\.commands\.commit: "\{args\.\.\.\}\{slug\}" mixes a list placeholder/,
    ],
    [
      (registry) => (registry.backends.docker.commands.commit = ["{container}", "commit"]),
      /: backends\.docker\.commands\.commit: the executable must be a fixed name/,
    ],
  ];
  try {
    for (const [edit, expected] of cases) {
      const path = await temp.write("registry.json", registryWith(edit));
      Deno.env.set("BOT_BOTTLE_REGISTRY", path);
      await rejects(loadRegistry(), (error: unknown) => {
        if (!(error instanceof BadInputError)) return false;
        match(error.message, new RegExp(`^registry ${escape(path)} is invalid`));
        match(error.message, expected);
        return true;
      });
    }
  } finally {
    if (saved === undefined) Deno.env.delete("BOT_BOTTLE_REGISTRY");
    else Deno.env.set("BOT_BOTTLE_REGISTRY", saved);
  }
});

Deno.test('loadRegistry() loads a built-in module by name, "builtin:docker", from any file', async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write(
    "registry.json",
    registryWith((r) => (r.backends.docker.freezer = "builtin:docker")),
  );
  const registry = await loadRegistry({ path });
  ok(registry.getFreezer("docker") instanceof DockerFreezer);
  equal(registry.getBackend("").shellCommand("x"), "docker exec -it bot-bottle-x sh");
});

Deno.test("loadRegistry() rejects an unknown built-in module, listing the known ones", async () => {
  await rejectsInvalid(
    registryWith((r) => (r.backends.docker.freezer = "builtin:podman")),
    /: backends\.docker\.freezer: there is no built-in module "builtin:podman"; built-in modules: "builtin:docker", "builtin:macos-container", "builtin:smolmachines"$/,
  );
});

Deno.test("loadRegistry() rejects a docker-module backend without its engine's wording", async () => {
  await rejectsInvalid(
    registryWith((r) => delete (r.backends.docker as { engine?: unknown }).engine),
    /: backends\.docker\.engine is missing; \.\.\/\.\.\/backends\/docker\.ts needs it$/,
  );
});

Deno.test("loadRegistry() rejects an engine error pattern that is not a regular expression", async () => {
  await rejectsInvalid(
    registryWith((r) => (r.backends.docker.engine.errors.noSuchImage = "No such (image")),
    /: backends\.docker\.engine\.errors\.noSuchImage: Invalid regular expression: /,
  );
});

Deno.test("a backend's naming names its bottles and snapshot images; without one, the built-in names", async () => {
  await using temp = await tempRegistryDir();
  const path = await temp.write(
    "registry.json",
    registryWith((r) => {
      r.backends.docker.freezer = "builtin:docker";
      r.backends.docker.naming = { bottle: "bb.{slug}.box", snapshots: "local/bb-{slug}-snap" };
    }),
  );
  const backend = (await loadRegistry({ path })).getBackend("docker");
  equal(backend.bottleName("dev-abc12"), "bb.dev-abc12.box");
  equal(backend.slugOfBottle("bb.dev-abc12.box"), "dev-abc12");
  equal(backend.slugOfBottle("bot-bottle-dev-abc12"), undefined);
  equal(backend.slugOfBottle("bb..box"), undefined);
  equal(backend.shellCommand("dev-abc12"), "docker exec -it bb.dev-abc12.box sh");
  ok(backend instanceof ImageBackend);
  equal(backend.imageName("dev-abc12"), "local/bb-dev-abc12-snap:latest");

  const plain = await temp.write(
    "plain.json",
    registryWith((r) => {
      r.backends.docker.freezer = "builtin:docker";
      delete (r.backends.docker as { naming?: unknown }).naming;
    }),
  );
  const builtin = (await loadRegistry({ path: plain })).getBackend("docker");
  equal(builtin.bottleName("dev-abc12"), "bot-bottle-dev-abc12");
  ok(builtin instanceof ImageBackend);
  equal(builtin.imageName("dev-abc12"), "bot-bottle-committed-dev-abc12:latest");
});
