import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { canaryOverrides } from '../../control-plane/canary/routing-overrides.js';
import { re2FullMatch } from '../../control-plane/lib/regex.js';
import { evaluateLoad } from '../../control-plane/model/build.js';
import { applyOverrides } from '../../control-plane/model/overrides.js';
import { userNumber, userRangePattern, userRanges } from '../../control-plane/model/sticky-users.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import type { CanarySpec } from '../../control-plane/api/types.js';
import { ordersPolicyWith, ordersService } from '../support/temp-config.js';

const host = 'orders.shop.svc.cluster.local';
const two = (n: number) => String(n).padStart(2, '0');

/** The version a user lands on, as the proxies will decide it: the first range whose pattern matches the ID. */
function versionOf(userId: string, weights: ReadonlyArray<readonly [string, number]>): string | undefined {
  for (const range of userRanges(weights.map(([version, weight]) => ({ version, weight })))) {
    if (re2FullMatch(userRangePattern(range.from, range.to), userId)) return range.version;
  }
  return undefined;
}

describe('sticky splits by user ID', () => {
  it('a range pattern matches exactly the IDs whose last two digits are in the range (every range, every number)', () => {
    for (let from = 0; from < 100; from++) {
      for (let to = from + 1; to <= 100; to++) {
        const pattern = userRangePattern(from, to);
        const re2 = RE2JS.compile(pattern);
        for (let n = 0; n < 100; n++) {
          const inside = n >= from && n < to;
          if (re2.matches(`user-7${two(n)}`) !== inside) throw new Error(`${pattern} on ${two(n)}: expected ${inside}`);
        }
        // IDs that do not end in two digits are never sticky.
        if (re2.matches('alice') || re2.matches(`x${two(from)}y`)) throw new Error(`${pattern} matches an ID without two final digits`);
      }
    }
    expect(userRangePattern(70, 100)).toBe('.*[7-9][0-9]');
    expect(userRangePattern(10, 35)).toBe('.*(?:[1-2][0-9]|3[0-4])');
    expect(() => userRangePattern(5, 5)).toThrow(RangeError);
  });

  it('is monotonic: as the canary grows, no user ever moves back to stable', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 2, maxLength: 8 }), fc.integer({ min: 0, max: 9999 }), (steps, id) => {
        const weights = [...steps].sort((a, b) => a - b);
        const user = `u${id}`;
        const seen = weights.map((canary) => versionOf(user, [['stable', 100 - canary], ['canary', canary]]));
        const firstCanary = seen.indexOf('canary');
        return firstCanary < 0 || seen.slice(firstCanary).every((v) => v === 'canary');
      }),
    );
  });

  it('gives each destination exactly its weight in users, in listed order', () => {
    const weights: Array<[string, number]> = [['v1', 70], ['v2', 20], ['v3', 10]];
    const counts: Record<string, number> = {};
    for (let n = 0; n < 100; n++) counts[versionOf(`id-${two(n)}`, weights)!] = (counts[versionOf(`id-${two(n)}`, weights)!] ?? 0) + 1;
    expect(counts).toEqual({ v1: 70, v2: 20, v3: 10 });
    expect(userRanges([{ version: 'a', weight: 0 }, { version: 'b', weight: 100 }])).toEqual([{ version: 'b', from: 0, to: 100 }]);
    expect(userNumber('u-1042')).toBe(42);
    expect(userNumber('u-7')).toBeUndefined();
  });
  const build = (spec: string) => {
    const result = evaluateLoad(loadFromTexts([['svc.yaml', ordersService], ['tp.yaml', ordersPolicyWith(spec)]]));
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    return result.snapshot;
  };
  const split = '  routes:\n    - name: split\n      to: [{ version: v1, weight: 90 }, { version: v2, weight: 10 }]\n';

  it('is on by default when a route names the user ID, and follows spec.userId and stickyBy', () => {
    const cohort = '    - name: testers\n      match: { userId: { header: X-User-Id, values: [u-1] } }\n      to: [{ version: v2, weight: 100 }]\n';
    expect(build(`  routes:\n${cohort}${split.slice('  routes:\n'.length)}`).services.get(host)!.traffic!.stickyUsers).toEqual([{ kind: 'header', name: 'x-user-id' }]);
    expect(build(split).services.get(host)!.traffic!.stickyUsers).toBeUndefined();
    expect(build(`  userId: { jsonBody: /user/id }\n${split}`).services.get(host)!.traffic!.stickyUsers).toEqual([{ kind: 'jsonBody', pointer: '/user/id' }]);
    const off = build(`  userId: { header: x-user-id }\n  stickyBy: request\n${split}`).services.get(host)!.traffic!;
    expect(off.stickyUsers).toBeUndefined();
    expect(off.perRequestSplit).toBe(true);
  });

  it('warns, with file and line, when stickyBy: userId has no user ID to read', () => {
    const snapshot = build(`  stickyBy: userId\n${split}`);
    const warning = snapshot.warnings.find((w) => w.field === 'spec.stickyBy');
    expect(warning?.message).toContain('no user ID is known');
    expect(warning?.location).toMatchObject({ file: 'tp.yaml', line: 9 });
  });

  it("a canary's cohort makes its weighted steps sticky by the cohort's user ID, unless the policy asked for per-request splits", () => {
    const spec = { service: 'orders', stable: 'v1', canary: 'v2', steps: [10, 30], metrics: [{ name: 'success-rate', min: 99 }], cohort: { header: 'x-user-id', values: ['u-1'] } } as unknown as CanarySpec;
    const overrides = canaryOverrides([{ namespace: 'shop', spec, routing: { kind: 'split', weight: 30, cohort: true } }]);
    const sticky = applyOverrides(build(split), overrides);
    expect(sticky.ok && sticky.snapshot.services.get(host)!.traffic!.stickyUsers).toEqual([{ kind: 'header', name: 'x-user-id' }]);
    const perRequest = applyOverrides(build(`  stickyBy: request\n${split}`), overrides);
    expect(perRequest.ok && perRequest.snapshot.services.get(host)!.traffic!.stickyUsers).toBeUndefined();
  });
});
