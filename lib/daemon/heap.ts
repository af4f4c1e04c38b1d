// An indexed binary max-heap of small integer ids, keyed by a caller-owned array (keys[id]).
// The store keeps one per bound (lines, bytes) to find "the source holding the most" in
// O(1) and update it in O(log sources) on every append and eviction. Pure module.
// Keys are read straight from a typed array: no callback per comparison on the hot path.

export class MaxHeap {
  private heap: number[] = [];
  /** position of each id in heap, -1 when absent */
  private pos: number[] = [];

  /** keys[id] is id's key; the owner may replace the array (to grow it) at any time. */
  constructor(public keys: Float64Array) {}

  get size(): number {
    return this.heap.length;
  }

  /** Id with the largest key, or -1 when empty. */
  top(): number {
    return this.heap.length > 0 ? this.heap[0] : -1;
  }

  has(id: number): boolean {
    return (this.pos[id] ?? -1) >= 0;
  }

  /** Inserts id, or restores heap order after its key changed. */
  update(id: number): void {
    let i = this.pos[id] ?? -1;
    if (i < 0) {
      i = this.heap.length;
      this.heap.push(id);
      this.pos[id] = i;
    }
    this.down(this.up(i));
  }

  remove(id: number): void {
    const i = this.pos[id] ?? -1;
    if (i < 0) return;
    const last = this.heap.pop()!;
    this.pos[id] = -1;
    if (i < this.heap.length) {
      this.heap[i] = last;
      this.pos[last] = i;
      this.down(this.up(i));
    }
  }

  private up(i: number): number {
    const h = this.heap;
    const id = h[i];
    const k = this.keys[id];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.keys[h[p]] >= k) break;
      h[i] = h[p];
      this.pos[h[i]] = i;
      i = p;
    }
    h[i] = id;
    this.pos[id] = i;
    return i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const id = h[i];
    const k = this.keys[id];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.keys[h[r]] > this.keys[h[l]] ? r : l;
      if (this.keys[h[c]] <= k) break;
      h[i] = h[c];
      this.pos[h[i]] = i;
      i = c;
    }
    h[i] = id;
    this.pos[id] = i;
  }
}
