import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LayeredMap } from '../../control-plane/lib/layered-map.js';
import { resourceDiff } from '../../control-plane/xds/resource-diff.js';

type Versions = Map<string, { version: string }>;

/** What a full scan would find. */
function bruteForce(before: ReadonlyMap<string, { version: string }>, after: ReadonlyMap<string, { version: string }>) {
  const changed = [...after].filter(([name, r]) => before.get(name)?.version !== r.version).map(([name]) => name).sort();
  const removed = [...before.keys()].filter((name) => !after.has(name)).sort();
  return { changed, removed };
}

const versions = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), fc.constantFrom('1', '2', '3')), { maxLength: 7 }).map((entries) => new Map(entries.map(([name, version]) => [name, { version }])) as Versions);

describe('resourceDiff (what delta streams send between two views)', () => {
  it('equals a full scan, for plain maps and for layered maps whose layers change', () => {
    fc.assert(
      fc.property(versions, versions, versions, versions, (baseBefore, topBefore, baseAfter, topAfter) => {
        const sorted = (d: { changed: readonly string[]; removed: readonly string[] }) => ({ changed: [...d.changed].sort(), removed: [...d.removed].sort() });
        expect(sorted(resourceDiff(baseBefore, baseAfter))).toEqual(bruteForce(baseBefore, baseAfter));
        const before = new LayeredMap(baseBefore, topBefore);
        const after = new LayeredMap(baseAfter, topAfter);
        expect(sorted(resourceDiff(before, after))).toEqual(bruteForce(before, after));
      }),
    );
  });

  it('is computed once per pair of maps', () => {
    const a: Versions = new Map([['x', { version: '1' }]]);
    const b: Versions = new Map([['x', { version: '2' }]]);
    expect(resourceDiff(a, b)).toBe(resourceDiff(a, b));
  });
});
