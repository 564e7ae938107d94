import { describe, expect, it } from 'vitest';
import { evaluateLoad } from '../../control-plane/model/build.js';
import { loadDirectory } from '../../control-plane/sources/yaml-directory.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';

async function examples(): Promise<Snapshot> {
  const result = evaluateLoad(await loadDirectory('examples'));
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
  return result.snapshot;
}

describe('Snapshot built from examples/', () => {
  it('indexes services by host with endpoints by version', async () => {
    const snapshot = await examples();
    expect([...snapshot.services.keys()]).toEqual([
      'billing.payments.svc.cluster.local',
      'catalog.shop.svc.cluster.local',
      'citizen-api.gov-portal.svc.cluster.local',
      'legacy-billing.payments.svc.cluster.local',
      'orders.shop.svc.cluster.local',
    ]);
    const orders = snapshot.services.get('orders.shop.svc.cluster.local')!;
    expect(orders.ports).toEqual([{ name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }]);
    expect(orders.versions.get('v1')!.endpoints.map((e) => e.address)).toEqual(['10.244.1.10', '10.244.2.11']);
    expect(orders.versions.get('v2')!.endpoints.map((e) => e.address)).toEqual(['10.244.3.12']);
    expect(orders.traffic?.policy.name).toBe('orders');
    expect(snapshot.canaries.find((c) => c.spec.service === 'billing')?.spec.steps).toEqual([5, 10, 25, 50]);
  });

  it('puts VMs from WorkloadEntries behind the Service whose selector matches them', async () => {
    const legacy = (await examples()).services.get('legacy-billing.payments.svc.cluster.local')!;
    expect(legacy.endpoints.map((e) => [e.address, e.ports.http, e.weight, e.workload?.kind])).toEqual([
      ['10.20.0.15', 8443, 1, 'WorkloadEntry'],
      ['10.20.0.16', 8443, 2, 'WorkloadEntry'],
    ]);
  });

  it('applies schema defaults (canary interval, threshold, metric source)', async () => {
    const canary = (await examples()).canaries[0]!;
    expect(canary.spec.interval).toBe('1m');
    expect(canary.spec.threshold).toBe(3);
    expect(canary.spec.metrics[0]!.minRequests).toBe(20);
  });

  it('is immutable', async () => {
    const snapshot = await examples();
    const orders = snapshot.services.get('orders.shop.svc.cluster.local')!;
    expect(() => (snapshot.services as Map<string, unknown>).set('x', {})).toThrow(/immutable/);
    expect(() => {
      (orders.traffic!.routes[0]!.destinations[0] as { weight: number }).weight = 1;
    }).toThrow(TypeError);
    expect(() => {
      (orders.endpoints as unknown[]).push({});
    }).toThrow(TypeError);
  });

  it('has a content version: same input, same version', async () => {
    const [a, b] = [await examples(), await examples()];
    expect(a.version).toBe(b.version);
    expect(a.version).toMatch(/^[0-9a-f]{16}$/);
  });
});
