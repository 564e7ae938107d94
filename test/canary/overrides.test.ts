import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ejectionOverrides } from '../../control-plane/canary/ejection.js';
import { canaryOverrides } from '../../control-plane/canary/routing-overrides.js';
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

describe('canary and ejection overrides', () => {
  it('the canary replaces the service routes (cohort first, then the split) and leaves the user snapshot alone', () => {
    const s = store();
    expect(s.setOverrides('canary', canaryOverrides([{ namespace: 'shop', spec, routing: { kind: 'split', weight: 25, cohort: true } }]))).toEqual([]);
    const routes = s.current!.services.get(host)!.traffic!.routes;
    expect(routes.map((r) => r.name)).toEqual(['canary-cohort', 'canary-split']);
    expect(routes[0]!.match.userId).toEqual({ source: { kind: 'header', name: 'x-user-id' }, match: { kind: 'prefix', value: 'beta-' } });
    expect(routes[1]!.destinations).toEqual([{ version: 'v1', weight: 75 }, { version: 'v2', weight: 25 }]);
    expect(Object.isFrozen(routes[1])).toBe(true);
    expect(s.base!.services.get(host)!.traffic!.routes[0]!.destinations.map((t) => t.weight)).toEqual([90, 10]);
    s.setOverrides('canary', canaryOverrides([{ namespace: 'shop', spec, routing: { kind: 'stable' } }]));
    expect(s.current!.services.get(host)!.traffic!.routes.map((r) => [r.name, r.destinations])).toEqual([['canary-stable', [{ version: 'v1', weight: 100 }]]]);
    // Another namespace's service of the same name is not touched.
    s.setOverrides('canary', canaryOverrides([{ namespace: 'other', spec, routing: { kind: 'canary' } }]));
    expect(s.current!.services.get(host)!.traffic!.routes[0]!.destinations.map((t) => t.weight)).toEqual([90, 10]);
  });

  it('ejection marks the endpoint not ready on the port it was judged on (port-exact), and only that one', () => {
    const s = store();
    s.setOverrides('ejection', ejectionOverrides([{ host, endpoint: '10.0.0.2:9999' }]));
    expect(s.current!.services.get(host)!.endpoints.every((e) => e.ready)).toBe(true);
    s.setOverrides('ejection', ejectionOverrides([{ host, endpoint: '10.0.0.2:8080' }]));
    const service = s.current!.services.get(host)!;
    expect(service.endpoints.find((e) => e.address === '10.0.0.2')!.ready).toBe(false);
    expect(service.endpoints.find((e) => e.address === '10.0.0.1')!.ready).toBe(true);
    expect(service.versions.get('v2')!.endpoints.map((e) => e.ready)).toEqual([false]);
    s.setOverrides('ejection', undefined);
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
