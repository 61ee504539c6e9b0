// semver is loaded on first use: its npm package costs about 30 ms to load,
// which commands that never compare a backend's version should not pay.

// @ts-types="@types/semver"
import type * as Semver from "semver";

let loading: Promise<typeof Semver> | undefined;

/** Loads semver once. */
export function semver(): Promise<typeof Semver> {
  // @ts-types="@types/semver"
  loading ??= import("semver");
  return loading;
}
