/**
 * End to end: a slow v2 trips the latency-p99 bound. Real gRPC calls through
 * real @grpc/grpc-js-xds clients; their latencies are reported as an Envoy
 * sidecar would, over the stats sink (cumulative counters and the
 * upstream_rq_time histogram in Envoy's stat names), since gRPC clients' LRS
 * carries no latency.
 */
import { register } from '@grpc/grpc-js-xds';
import { afterAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { echoServiceManifests, startEchoBackend, xdsEchoClient } from '../support/echo-backend.js';
import { EnvoyClusterStats, openStatsSinkStream } from '../support/telemetry-clients.js';

register();

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('latency-bound canary analysis from the Envoy stats sink', () => {
  it('a v2 slower than maxMs is rolled back, traffic back on v1', async () => {
    const v1 = await startEchoBackend('v1');
    const v2 = await startEchoBackend('v2', { latencyMs: 80 });
    cleanups.push(() => v1.stop(), () => v2.stop());
    const files = {
      'mesh.yaml': `${echoServiceManifests([v1, v2])}---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: echo, namespace: shop }
spec:
  service: echo
  versions: { v1: { labels: { version: v1 } }, v2: { labels: { version: v2 } } }
`,
      'canary.yaml': `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: echo, namespace: shop }
spec:
  service: echo
  stable: v1
  canary: v2
  steps: [50]
  interval: 500ms
  threshold: 2
  metrics:
    - { name: success-rate, min: 99, minRequests: 5 }
    - { name: latency-p99, maxMs: 50, minRequests: 5 }
`,
    };
    const running = await startControlPlane(files, { telemetry: { slotMs: 100 } });
    cleanups.push(() => running.stop());
    const client = xdsEchoClient('echo.shop.svc.cluster.local:9090', running.xdsAddress, { id: 'sidecar-like', metadata: { namespace: 'shop', mode: 'proxyless' } });
    cleanups.push(() => client.close());
    const sink = openStatsSinkStream(running.xdsAddress, 'sidecar-like');
    cleanups.push(() => sink.close());
    const perVersion = new Map<string, EnvoyClusterStats>();
    const stats = (version: string) => {
      let found = perVersion.get(version);
      if (!found) perVersion.set(version, (found = new EnvoyClusterStats(`outbound|9090|${version}|echo.shop.svc.cluster.local`)));
      return found;
    };
    let running_ = true;
    const loop = async () => {
      while (running_) {
        const started = performance.now();
        const version = await client.whoami({}, 2000).catch(() => undefined);
        if (version) stats(version).observe(2, performance.now() - started);
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    // Envoy flushes its stats periodically (5 s by default; faster here).
    const flusher = setInterval(() => sink.send([...perVersion.values()].flatMap((s) => s.families())), 150);
    cleanups.push(async () => {
      clearInterval(flusher);
      running_ = false;
      await Promise.all(loops);
    });
    const deadline = Date.now() + 10_000;
    let current: { phase: string; message: string; canaryWeight: number } = { phase: '', message: '', canaryWeight: -1 };
    const phases = new Set<string>();
    while (Date.now() < deadline) {
      current = (await running.admin('/api/v1/canaries/shop/echo')).json() as typeof current;
      phases.add(current.phase);
      if (current.phase === 'Failed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(phases).toContain('Progressing');
    expect(current.phase).toBe('Failed');
    expect(current.message).toMatch(/latency-p99 \d+(\.\d+)?ms > 50ms/);
    // The telemetry store saw v2's latency through the sink.
    const telemetry = (await running.admin('/debug/telemetry?windowMs=10000')).json() as { versions: Array<{ source: string; version: string; p99Ms?: number }> };
    const v2Row = telemetry.versions.find((r) => r.source === 'statsSink' && r.version === 'v2');
    expect(v2Row?.p99Ms).toBeGreaterThan(50);
    await new Promise((r) => setTimeout(r, 300));
    const after = new Map<string, number>();
    for (let i = 0; i < 50; i++) {
      const version = await client.whoami();
      after.set(version, (after.get(version) ?? 0) + 1);
    }
    expect(after.get('v2') ?? 0).toBe(0);
  });
});
