import { describe, expect, it } from 'vitest';
import { MaxHeap } from '../../../lib/daemon/heap.js';

describe('MaxHeap', () => {
  it('tracks the id with the largest key through updates and removals', () => {
    const keys = new Float64Array(50);
    const h = new MaxHeap(keys);
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const id = rnd() % 50;
      if (rnd() % 5 === 0) {
        h.remove(id);
        keys[id] = -Infinity;
      } else {
        keys[id] = rnd() % 1000;
        h.update(id);
      }
      let best = -Infinity;
      for (let j = 0; j < 50; j++) if (h.has(j) && keys[j] > best) best = keys[j];
      if (h.size > 0) expect(keys[h.top()]).toBe(best);
      else expect(h.top()).toBe(-1);
    }
  });
});
