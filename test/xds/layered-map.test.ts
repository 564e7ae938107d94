import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LayeredMap } from '../../control-plane/lib/layered-map.js';

describe('LayeredMap', () => {
  it('reads like the merged map (top over base) for any two maps', () => {
    const entries = fc.array(fc.tuple(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e', 'f'), fc.integer()), { maxLength: 8 });
    fc.assert(
      fc.property(entries, entries, (baseEntries, topEntries) => {
        const base = new Map(baseEntries);
        const top = new Map(topEntries);
        const merged = new Map([...base, ...top]);
        const layered = new LayeredMap(base, top);
        expect(layered.size).toBe(merged.size);
        expect(new Map(layered)).toEqual(merged);
        expect(new Set(layered.keys())).toEqual(new Set(merged.keys()));
        expect([...layered.values()].sort()).toEqual([...merged.values()].sort());
        for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'z']) {
          expect(layered.get(key)).toBe(merged.get(key));
          expect(layered.has(key)).toBe(merged.has(key));
        }
        const seen: string[] = [];
        layered.forEach((_, key) => seen.push(key));
        expect(seen.sort()).toEqual([...merged.keys()].sort());
      }),
    );
  });
});
