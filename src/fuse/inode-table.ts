/**
 * Node ids handed to the kernel, with lookup counts (FUSE's contract: every
 * successful LOOKUP reply adds one, FORGET subtracts n; at zero the id is free).
 * Ids are never reused, so the generation number is always 0.
 */
import type { Node } from './node';

interface Slot {
  node: Node;
  lookups: number;
}

export const ROOT_ID = 1;

export class InodeTable {
  private readonly byId = new Map<number, Slot>();
  private readonly byKey = new Map<string, number>();
  private readonly keyOf = new Map<number, string>();
  private nextId = ROOT_ID + 1;

  constructor(root: Node) {
    // The root is never forgotten.
    this.byId.set(ROOT_ID, { node: root, lookups: Number.POSITIVE_INFINITY });
  }

  get(id: number): Node | undefined {
    return this.byId.get(id)?.node;
  }

  /** Id for a node reached by LOOKUP under `parentId`; counts one lookup. */
  remember(parentId: number, node: Node): number {
    const k = `${parentId}/${node.key}`;
    const existing = this.byKey.get(k);
    if (existing !== undefined) {
      const slot = this.byId.get(existing)!;
      slot.lookups += 1;
      return existing;
    }
    const id = this.nextId++;
    this.byId.set(id, { node, lookups: 1 });
    this.byKey.set(k, id);
    this.keyOf.set(id, k);
    return id;
  }

  forget(id: number, n: number): void {
    const slot = this.byId.get(id);
    if (!slot || id === ROOT_ID) return;
    slot.lookups -= n;
    if (slot.lookups <= 0) {
      this.byId.delete(id);
      const k = this.keyOf.get(id);
      if (k !== undefined && this.byKey.get(k) === id) this.byKey.delete(k);
      this.keyOf.delete(id);
    }
  }
}
