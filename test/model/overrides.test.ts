import { describe, expect, it } from 'vitest';
import { createLogger } from '../../control-plane/log/logger.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import { deepFreeze, type SourceObject } from '../../control-plane/core/source-object.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const weights = (store: SnapshotStore) => store.current!.services.get('orders.shop.svc.cluster.local')!.policy!.spec.routes![0]!.to.map((t) => t.weight);

/** An overlay like the canary controller's: rewrite a policy's split. */
const split = (v1: number, v2: number) => (objects: readonly SourceObject[]) =>
  objects.map((o) => {
    if (o.kind !== 'TrafficPolicy') return o;
    const spec = o.manifest.spec as { routes: Array<{ name: string; to: unknown[] }> };
    const manifest = { ...o.manifest, spec: { ...spec, routes: [{ name: 'canary', to: [{ version: 'v1', weight: v1 }, { version: 'v2', weight: v2 }] }] } };
    return deepFreeze({ ...o, manifest });
  });

describe('snapshot overlays (how the control plane changes the model)', () => {
  it('apply on top of the user configuration, survive reloads, and go away when removed', () => {
    const store = new SnapshotStore(createLogger('silent'));
    const seen: string[] = [];
    store.subscribe((s) => seen.push(s.version));
    store.apply(loadFromTexts([['svc.yaml', ordersService], ['tp.yaml', ordersPolicy([90, 10])]]));
    expect(weights(store)).toEqual([90, 10]);
    store.setOverlay('canary', split(75, 25));
    expect(weights(store)).toEqual([75, 25]);
    expect(store.base!.services.get('orders.shop.svc.cluster.local')!.policy!.spec.routes![0]!.to.map((t) => t.weight)).toEqual([90, 10]);
    // A user edit elsewhere keeps the overlay.
    store.apply(loadFromTexts([['svc.yaml', ordersService.replace('10.0.0.1', '10.0.0.7')], ['tp.yaml', ordersPolicy([90, 10])]]));
    expect(weights(store)).toEqual([75, 25]);
    store.setOverlay('canary', undefined);
    expect(weights(store)).toEqual([90, 10]);
    expect(seen).toHaveLength(4);
  });

  it('an overlay that would make the model invalid is refused and the current snapshot stays', () => {
    const store = new SnapshotStore(createLogger('silent'));
    store.apply(loadFromTexts([['svc.yaml', ordersService], ['tp.yaml', ordersPolicy([90, 10])]]));
    const before = store.current;
    const issues = store.setOverlay('broken', split(60, 60));
    expect(issues[0]?.message).toBe('weights must sum to 100, got 120');
    expect(store.current).toBe(before);
  });
});
