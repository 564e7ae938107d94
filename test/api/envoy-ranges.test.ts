/**
 * The policy schema's ranges agree with Envoy's: the largest values the schema
 * accepts translate into resources that pass Envoy's protos and validate rules
 * (so nothing is dropped after `validate` said yes), and one step past each
 * bound is refused by the schema with the field's file:line.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { formatConfigIssue } from '../../control-plane/core/errors.js';
import { modelFromDirectory, proxyFromNode, resourcesForProxy } from '../../control-plane/pipeline/pipeline.js';
import { ordersPolicyWith, ordersService, tempConfig } from '../support/temp-config.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => cleanup?.());

const atTheBounds = `  timeout: 2562047h47m15s
  retries: { attempts: 10, perTryTimeout: 2562047h47m15s, retriableStatusCodes: [599] }
  circuitBreaker: { maxConnections: 4294967295, maxPendingRequests: 4294967295, maxRequests: 4294967295, maxRetries: 4294967295 }
  outlierDetection: { consecutive5xx: 4294967295, interval: 1ms, baseEjectionTime: 2562047h47m15s, maxEjectionPercent: 100 }
`;

async function model(spec: string) {
  const config = await tempConfig({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicyWith(spec) });
  cleanup = config.cleanup;
  const { result } = await modelFromDirectory(config.dir);
  return { result, dir: config.dir };
}

describe('policy ranges agree with Envoy', () => {
  it('the largest accepted values translate into resources Envoy accepts, for sidecars and proxyless clients', async () => {
    const { result } = await model(atTheBounds);
    expect(result.ok ? [] : result.issues.map(formatConfigIssue)).toEqual([]);
    if (!result.ok) return;
    for (const [id, metadata] of [
      ['client.shop', { namespace: 'shop', labels: { app: 'client' } }],
      ['grpc-client', { namespace: 'shop', mode: 'proxyless' }],
    ] as const) {
      const resources = resourcesForProxy(result.snapshot, proxyFromNode(id, metadata));
      expect(resources.issues.filter((i) => i.severity === 'error').map((i) => i.message)).toEqual([]);
      const clusters = resources.clusters.filter((c) => c.name.includes('orders.shop'));
      expect(clusters.length).toBeGreaterThan(0);
    }
    const sidecar = resourcesForProxy(result.snapshot, proxyFromNode('client.shop', { namespace: 'shop', labels: { app: 'client' } }));
    const cluster = sidecar.clusters.find((c) => c.name.includes('orders.shop'))!.body as Record<string, any>;
    expect(cluster.circuit_breakers.thresholds[0].max_connections).toBe(4294967295);
    expect(cluster.outlier_detection).toMatchObject({ interval: '0.001s', base_ejection_time: '9223372035s' });
  });

  it('one step past each bound is refused with file:line', async () => {
    const { result, dir } = await model(atTheBounds.replace('timeout: 2562047h47m15s', 'timeout: 2562047h47m16s').replace('maxRetries: 4294967295', 'maxRetries: 4294967296').replace('interval: 1ms', 'interval: 0.4ms').replace('maxEjectionPercent: 100', 'maxEjectionPercent: 101'));
    expect(result.ok ? [] : result.issues.map((i) => formatConfigIssue(i).replaceAll(`${dir}/`, ''))).toEqual([
      'tp.yaml:9:3: TrafficPolicy shop/orders: spec.timeout: must be at most 2562047h47m15s, got string "2562047h47m16s"',
      'tp.yaml:11:106: TrafficPolicy shop/orders: spec.circuitBreaker.maxRetries: must be at most 4294967295, got 4294967296',
      'tp.yaml:12:51: TrafficPolicy shop/orders: spec.outlierDetection.interval: must be at least 1ms, got string "0.4ms"',
      'tp.yaml:12:102: TrafficPolicy shop/orders: spec.outlierDetection.maxEjectionPercent: must be at most 100, got 101',
    ]);
  });
});
