import { describe, expect, it } from 'vitest';
import { createLogger } from '../../control-plane/log/logger.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import type { ModelOverride } from '../../control-plane/model/overrides.js';
import { matchEverything } from '../../control-plane/model/traffic.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const host = 'orders.shop.svc.cluster.local';
const weights = (snapshot = store().current) => snapshot!.services.get(host)!.traffic!.routes[0]!.destinations.map((t) => t.weight);
let store = () => new SnapshotStore(createLogger('silent'));

/** An override like the canary controller's: replace the service's routes with one split. */
const split = (v1: number, v2: number): ModelOverride[] => [
  { kind: 'routes', service: host, routes: [{ name: 'canary', match: matchEverything, destinations: [{ version: 'v1', weight: v1 }, { version: 'v2', weight: v2 }] }] },
];

describe('model overrides (how the control plane changes the model)', () => {
  it('apply on top of the user configuration, survive reloads, and go away when removed', () => {
    const s = new SnapshotStore(createLogger('silent'));
    store = () => s;
    const seen: string[] = [];
    s.subscribe((snapshot) => seen.push(snapshot.version));
    s.apply(loadFromTexts([['svc.yaml', ordersService], ['tp.yaml', ordersPolicy([90, 10])]]));
    expect(weights()).toEqual([90, 10]);
    const before = s.current!.services.get(host)!;
    expect(s.setOverrides('canary', split(75, 25))).toEqual([]);
    expect(weights()).toEqual([75, 25]);
    // The changed service gets a new fingerprint (so it is re-translated); the user's snapshot is untouched.
    expect(s.current!.services.get(host)!.fingerprint).not.toBe(before.fingerprint);
    expect(weights(s.base)).toEqual([90, 10]);
    // A user edit elsewhere keeps the override.
    s.apply(loadFromTexts([['svc.yaml', ordersService.replace('10.0.0.1', '10.0.0.7')], ['tp.yaml', ordersPolicy([90, 10])]]));
    expect(weights()).toEqual([75, 25]);
    s.setOverrides('canary', undefined);
    expect(weights()).toEqual([90, 10]);
    expect(s.current!.services.get(host)!.fingerprint).toBe(s.base!.services.get(host)!.fingerprint);
    expect(seen).toHaveLength(4);
  });

  it('an override that would make the model invalid is refused and the current snapshot stays', () => {
    const s = new SnapshotStore(createLogger('silent'));
    s.apply(loadFromTexts([['svc.yaml', ordersService], ['tp.yaml', ordersPolicy([90, 10])]]));
    const before = s.current;
    const issues = s.setOverrides('broken', split(60, 60));
    expect(issues.map((i) => `${i.object?.kind} ${i.object?.namespace}/${i.object?.name}: ${i.field}: ${i.message}`)).toEqual(['TrafficPolicy shop/orders: spec.routes[0].to: weights must sum to 100, got 120']);
    expect(s.current).toBe(before);
    expect(s.overrides('broken')).toEqual([]);
    const unknown = s.setOverrides('broken', [{ kind: 'routes', service: host, routes: [{ name: 'x', match: matchEverything, destinations: [{ version: 'v9', weight: 100 }] }] }]);
    expect(unknown[0]?.message).toBe('version "v9" is not in spec.versions (v1, v2)');
  });

  it('an override for a service that is gone is stale and skipped, not an error', () => {
    const s = new SnapshotStore(createLogger('silent'));
    s.apply(loadFromTexts([['svc.yaml', ordersService], ['tp.yaml', ordersPolicy([90, 10])]]));
    const before = s.current;
    expect(s.setOverrides('canary', [{ kind: 'routes', service: 'gone.shop.svc.cluster.local', routes: [] }])).toEqual([]);
    expect(s.current).toBe(before);
  });
});
