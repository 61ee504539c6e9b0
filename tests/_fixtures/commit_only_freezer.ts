// A base for test freezers that only commit: the lifecycle methods a real
// backend implements fail loudly if a test reaches them.

import type { Agent } from "../../lib/agent.ts";
import { type BottleStatus, Freezer, type InventoryEntry } from "../../lib/freezer.ts";

function unused(method: string): never {
  throw new Error(`${method}() is not part of this test freezer`);
}

export abstract class CommitOnlyFreezer extends Freezer {
  override bottleStatus(_slug: string): Promise<BottleStatus> {
    return unused("bottleStatus");
  }
  override removeBottle(_slug: string): Promise<void> {
    return unused("removeBottle");
  }
  override snapshotExists(_artifact: string): Promise<boolean> {
    return unused("snapshotExists");
  }
  override removeSnapshot(_agent: Agent, _artifact: string): Promise<void> {
    return unused("removeSnapshot");
  }
  override inventory(
    _bottles: readonly { slug: string; artifact?: string }[],
  ): Promise<Map<string, InventoryEntry>> {
    return unused("inventory");
  }
  override shellCommand(_slug: string): string {
    return unused("shellCommand");
  }
}
