/**
 * End to end: one endpoint of v1 fails every call, for every client. Each
 * proxyless client reports it through LRS (the endpoints sit in separate
 * zones, so gRPC's per-locality reports are per endpoint); the control plane
 * sums them, ejects the endpoint from EDS for the whole mesh, and lets it back
 * after the back-off.
 */
import { register } from '@grpc/grpc-js-xds';
import { afterAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { startEchoBackend, xdsEchoClient, type EchoBackend } from '../support/echo-backend.js';

register();

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function mesh(backends: EchoBackend[]): string {
  const slices = backends
    .map(
      (b, i) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-${i}, namespace: shop, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: grpc, port: ${b.port} }]
endpoints: [{ addresses: [127.0.0.1], zone: zone-${i}, targetRef: { kind: Pod, name: echo-${i} } }]
---
apiVersion: v1
kind: Pod
metadata: { name: echo-${i}, namespace: shop, labels: { app: echo, version: v1 } }
spec: { containers: [{ name: echo, image: echo }] }
`,
    )
    .join('');
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: shop }
spec: { selector: { app: echo }, ports: [{ name: grpc, port: 9090 }] }
${slices}---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: echo, namespace: shop }
spec:
  service: echo
  versions: { v1: { labels: { version: v1 } } }
  outlierDetection: { maxEjectionPercent: 34, baseEjectionTime: 1500ms }
`;
}

describe('mesh-wide ejection', () => {
  it('an endpoint failing for every client is removed from EDS for all, and returns after the back-off', async () => {
    const backends = [await startEchoBackend('v1'), await startEchoBackend('v1'), await startEchoBackend('v1', { errorRate: 1, errorCode: 14 })];
    cleanups.push(...backends.map((b) => () => b.stop()));
    const bad = backends[2]!;
    const running = await startControlPlane({ 'mesh.yaml': mesh(backends) }, { telemetry: { slotMs: 100, lrsReportIntervalMs: 150 }, ejection: { intervalMs: 500, errorRate: 0.5, minRequests: 10 } });
    cleanups.push(() => running.stop());
    const clients = [0, 1, 2].map((i) => xdsEchoClient('echo.shop.svc.cluster.local:9090', running.xdsAddress, { id: `client-${i}`, metadata: { namespace: 'shop', mode: 'proxyless' } }));
    cleanups.push(() => clients.forEach((c) => c.close()));
    let load = true;
    const errors = { count: 0 };
    const loops = clients.map(async (c) => {
      while (load) {
        await c.whoami({}, 2000).catch(() => errors.count++);
        await new Promise((r) => setTimeout(r, 3));
      }
    });
    cleanups.push(async () => {
      load = false;
      await Promise.all(loops);
    });
    // Ejected: the bad backend stops receiving calls from every client.
    const ejectedAt = await (async () => {
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline) {
        const telemetry = (await running.admin('/debug/telemetry')).json() as { ejected: Array<{ endpoint: string }> };
        if (telemetry.ejected.some((e) => e.endpoint === `127.0.0.1:${bad.port}`)) return Date.now();
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the failing endpoint was never ejected');
    })();
    expect(Date.now() - ejectedAt).toBeLessThan(1500);
    await new Promise((r) => setTimeout(r, 300));
    const callsBefore = bad.calls;
    const errorsBefore = errors.count;
    await new Promise((r) => setTimeout(r, 700));
    expect(bad.calls - callsBefore).toBe(0);
    expect(errors.count - errorsBefore).toBe(0);
    // The healthy endpoints were never ejected (one per 34% of three endpoints).
    const metrics = (await running.admin('/metrics')).text;
    expect(metrics).toMatch(/sluice_mesh_ejected_endpoints\{service="echo.shop.svc.cluster.local"\} 1/);
    // After the back-off (1.5 s) the endpoint returns; fixed meanwhile, it takes calls again.
    bad.behaviour = {};
    await expect.poll(() => bad.calls - callsBefore, { timeout: 5000, interval: 50 }).toBeGreaterThan(0);
    expect(Date.now() - ejectedAt).toBeGreaterThan(1400);
    const telemetry = (await running.admin('/debug/telemetry')).json() as { ejected: unknown[] };
    expect(telemetry.ejected).toEqual([]);
  });
});
