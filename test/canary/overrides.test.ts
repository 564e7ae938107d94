import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ejectionOverlay } from '../../control-plane/canary/ejection.js';
import { canaryOverlay } from '../../control-plane/canary/overlay.js';
import { CanaryStateFile } from '../../control-plane/canary/state-file.js';
import { initialState } from '../../control-plane/canary/state-machine.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import type { CanarySpec } from '../../control-plane/api/types.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const host = 'orders.shop.svc.cluster.local';
const spec: CanarySpec = { service: 'orders', stable: 'v1', canary: 'v2', cohort: { header: 'x-user-id', prefix: 'beta-' }, steps: [25], metrics: [{ name: 'success-rate' }] };

function store() {
  const s = new SnapshotStore(createLogger('silent'));
  s.apply(loadFromTexts([['svc.yaml', ordersService.replace('conditions: { ready: false }', 'zone: z2')], ['tp.yaml', ordersPolicy([90, 10])]]));
  return s;
}

describe('canary and ejection overlays', () => {
  it('the canary overlay rewrites the policy routes (cohort first, then the split) and leaves the user objects alone', () => {
    const s = store();
    expect(s.setOverlay('canary', canaryOverlay(() => [{ namespace: 'shop', spec, routing: { kind: 'split', weight: 25, cohort: true } }]))).toEqual([]);
    const routes = s.current!.services.get(host)!.policy!.spec.routes!;
    expect(routes.map((r) => r.name)).toEqual(['canary-cohort', 'canary-split']);
    expect(routes[0]!.match?.userId).toEqual({ header: 'x-user-id', prefix: 'beta-' });
    expect(routes[1]!.to).toEqual([{ version: 'v1', weight: 75 }, { version: 'v2', weight: 25 }]);
    expect(Object.isFrozen(routes[1])).toBe(true);
    expect(s.base!.services.get(host)!.policy!.spec.routes![0]!.to.map((t) => t.weight)).toEqual([90, 10]);
    s.setOverlay('canary', canaryOverlay(() => [{ namespace: 'shop', spec, routing: { kind: 'stable' } }]));
    expect(s.current!.services.get(host)!.policy!.spec.routes).toEqual([{ name: 'canary-stable', to: [{ version: 'v1', weight: 100 }] }]);
    // Another namespace's service of the same name is not touched.
    s.setOverlay('canary', canaryOverlay(() => [{ namespace: 'other', spec, routing: { kind: 'canary' } }]));
    expect(s.current!.services.get(host)!.policy!.spec.routes![0]!.to.map((t) => t.weight)).toEqual([90, 10]);
  });

  it('the ejection overlay marks the endpoint not ready in its EndpointSlice (port-exact), and only that one', () => {
    const s = store();
    s.setOverlay('ejection', ejectionOverlay([{ namespace: 'shop', service: 'orders', endpoint: '10.0.0.2:9999' }]));
    expect(s.current!.services.get(host)!.endpoints.every((e) => e.ready)).toBe(true);
    s.setOverlay('ejection', ejectionOverlay([{ namespace: 'shop', service: 'orders', endpoint: '10.0.0.2:8080' }]));
    const endpoints = s.current!.services.get(host)!.endpoints;
    expect(endpoints.find((e) => e.address === '10.0.0.2')!.ready).toBe(false);
    expect(endpoints.find((e) => e.address === '10.0.0.1')!.ready).toBe(true);
    s.setOverlay('ejection', undefined);
    expect(s.current!.services.get(host)!.endpoints.every((e) => e.ready)).toBe(true);
  });
});

describe('canary state file', () => {
  it('round-trips states atomically and refuses a corrupt file with a clear error', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-state-'));
    try {
      const file = new CanaryStateFile(dir);
      expect((await file.loadAll()).size).toBe(0);
      const state = { ...initialState(spec, new Date(0)), phase: 'Progressing' as const, canaryWeight: 25 };
      await file.save('shop', 'orders', state, 3);
      const again = await new CanaryStateFile(dir).loadAll();
      expect(again.get('shop/orders')).toMatchObject({ phase: 'Progressing', canaryWeight: 25, canaryVersion: 'v2' });
      expect(JSON.parse(await readFile(path.join(dir, 'canaries.json'), 'utf8')).canaries['shop/orders'].generation).toBe(3);
      await file.remove('shop', 'orders');
      expect((await new CanaryStateFile(dir).loadAll()).size).toBe(0);
      await writeFile(path.join(dir, 'canaries.json'), '{ nope');
      await expect(new CanaryStateFile(dir).loadAll()).rejects.toThrow(/canaries.json is not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
