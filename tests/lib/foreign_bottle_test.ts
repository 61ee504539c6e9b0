// The one rule for a bottle from elsewhere: what reaches the host is listed
// and kept apart; named volumes and the environment pass.

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { reviewForeignBottle } from "../../lib/state/foreign_bottle.ts";
import { present } from "../_helpers/present.ts";

const base = { env: ["A=1"], volumes: [], labels: [], tty: false, interactive: false };

Deno.test("reviewForeignBottle() lists host paths, engine sockets and host networking, and keeps them apart", () => {
  const review = reviewForeignBottle({}, {
    ...base,
    volumes: [
      "/:/host",
      "/var/run/docker.sock:/var/run/docker.sock",
      "/run/containerd/containerd.sock:/c.sock",
      "./src:/src:ro",
      "~/secrets:/s",
      "data:/data",
      "/anonymous",
    ],
    network: "host",
    labels: ["team=a", "bot-bottle.slug=other"],
  });
  deepStrictEqual(review.hostAccess.map((each) => [each.kind, each.setting]), [
    ["host-path", "/:/host"],
    ["engine-socket", "/var/run/docker.sock:/var/run/docker.sock"],
    ["engine-socket", "/run/containerd/containerd.sock:/c.sock"],
    ["host-path", "./src:/src:ro"],
    ["host-path", "~/secrets:/s"],
    ["network", "host"],
  ]);
  match(present(review.hostAccess[0]?.description), /whole root filesystem at \/host/);
  deepStrictEqual(review.safeRunConfig?.volumes, ["data:/data", "/anonymous"]);
  equal(review.safeRunConfig?.network, undefined);
  deepStrictEqual(review.safeRunConfig?.env, ["A=1"]);
  deepStrictEqual(review.safeRunConfig?.labels, ["team=a"]);
  equal(review.grantedRunConfig?.volumes.length, 7);
  equal(review.grantedRunConfig?.network, "host");
  deepStrictEqual(review.grantedRunConfig?.labels, ["team=a"]);
  match(review.resets.join("\n"), /bot-bottle's own labels bot-bottle\.slug=other were dropped/);
});

Deno.test("reviewForeignBottle() drops device and privilege fields and another container's network", () => {
  const review = reviewForeignBottle({}, {
    ...base,
    network: "container:victim",
    privileged: true,
    devices: ["/dev/kvm"],
  });
  deepStrictEqual(review.hostAccess.map((each) => each.setting), ["container:victim"]);
  match(
    present(review.resets[0]),
    /"privileged", "devices" were dropped: bot-bottle applies no such setting/,
  );
  equal("privileged" in (review.grantedRunConfig ?? {}), false);
});

Deno.test("reviewForeignBottle() resets copy_cwd, saying which directory it would copy", () => {
  const review = reviewForeignBottle({ cwd: "/home/victim", copy_cwd: true, label: "x" });
  equal(review.metadata.copy_cwd, false);
  equal(review.metadata.label, "x");
  match(present(review.resets[0]), /copy_cwd was reset to false: .*"\/home\/victim"/);
  deepStrictEqual(reviewForeignBottle({ copy_cwd: false }).resets, []);
});

Deno.test("reviewForeignBottle() passes a run configuration with nothing of the host unchanged", () => {
  const config = { ...base, volumes: ["data:/data"], network: "team", workdir: "/w", user: "1000" };
  const review = reviewForeignBottle({}, config);
  deepStrictEqual(review.hostAccess, []);
  deepStrictEqual(review.safeRunConfig, config);
});
