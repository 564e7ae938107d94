/**
 * Which telemetry a canary check reads: a metric without `source` sums LRS
 * (proxyless clients) and the stats sink (sidecars) and is "no data" only when
 * neither has enough; NACKs of the service's resources fail the check by name.
 */
import { describe, expect, it } from 'vitest';
import type { CanarySpec } from '../../control-plane/api/types.js';
import { analyse } from '../../control-plane/canary/analysis.js';
import type { Canary } from '../../control-plane/model/snapshot.js';
import { TelemetryStore } from '../../control-plane/telemetry/telemetry-store.js';
import type { ProxyNack } from '../../control-plane/xds/connections.js';

const host = 'orders.shop.svc.cluster.local';
const canaryOf = (metrics: CanarySpec['metrics']): Canary =>
  ({ namespace: 'shop', name: 'orders', spec: { service: 'orders', stable: 'v1', canary: 'v2', steps: [50], metrics }, origin: { file: 'canary.yaml' } }) as unknown as Canary;

function store(at: number, lrs?: [number, number], sink?: [number, number]): TelemetryStore {
  const telemetry = new TelemetryStore({ now: () => at });
  if (lrs) telemetry.recordVersion('lrs', host, 'v2', lrs[0], lrs[1]);
  if (sink) telemetry.recordVersion('statsSink', host, 'v2', sink[0], sink[1]);
  return telemetry;
}

const at = 1_700_000_000_000;

describe('canary analysis sources', () => {
  it('without a source, LRS and the stats sink are summed', async () => {
    const canary = canaryOf([{ name: 'success-rate', min: 90, minRequests: 20 }]);
    // Neither alone reaches minRequests 20; together they do (15 + 15), and 3 errors in 30 is 90%.
    const both = await analyse(canary, 10_000, { telemetry: store(at, [14, 1], [13, 2]) });
    expect(both.verdict).toEqual({ kind: 'pass', message: 'success-rate 90%' });
    expect(both.results[0]).toMatchObject({ source: 'any', requests: 30 });
    const lrsOnly = await analyse(canary, 10_000, { telemetry: store(at, [30, 0]) });
    expect(lrsOnly.verdict.kind).toBe('pass');
    const sinkOnly = await analyse(canary, 10_000, { telemetry: store(at, undefined, [25, 5]) });
    expect(sinkOnly.verdict).toMatchObject({ kind: 'fail', message: expect.stringContaining('success-rate 83.33% < 90%') });
    const none = await analyse(canary, 10_000, { telemetry: store(at, [5, 0], [5, 0]) });
    expect(none.verdict).toMatchObject({ kind: 'no-data', message: 'success-rate: 10 requests < minRequests 20 (LRS and stats sink summed)' });
  });

  it('an explicit source reads only that source', async () => {
    const telemetry = store(at, [30, 0], [1, 9]);
    expect((await analyse(canaryOf([{ name: 'success-rate', min: 90, source: 'lrs', minRequests: 20 }]), 10_000, { telemetry })).verdict.kind).toBe('pass');
    expect((await analyse(canaryOf([{ name: 'success-rate', min: 90, source: 'statsSink', minRequests: 20 }]), 10_000, { telemetry })).verdict.kind).toBe('no-data');
  });

  it('NACKs of the service fail the check naming proxies, resources and error detail; others are ignored', async () => {
    const nack = (nodeId: string, resources: string[], message: string, type: ProxyNack['type'] = 'routes'): ProxyNack => ({ nodeId, namespace: 'shop', mode: 'proxyless', type, version: '1', resources, message });
    const nacks = [
      nack('a', [`${host}:8080`], 'Invalid regex string'),
      nack('b', [`${host}:8080`], 'Invalid regex string'),
      nack('c', ['payments.shop.svc.cluster.local:80'], 'unrelated'),
      nack('e', [`x${host}:8080`, `${host}.example:8080`], `x${host}: a longer name that contains this one`),
      nack('d', [`outbound|8080|v2|${host}`], 'bad cluster', 'clusters'),
    ];
    // No traffic reaches v2 either, but the verdict says why rather than "no data".
    const result = await analyse(canaryOf([{ name: 'success-rate', min: 90 }]), 10_000, { telemetry: store(at), nacks: () => nacks });
    expect(result.verdict).toEqual({
      kind: 'fail',
      message: `2 proxies NACKed routes ${host}:8080: Invalid regex string; 1 proxy NACKed clusters outbound|8080|v2|${host}: bad cluster`,
    });
    const clean = await analyse(canaryOf([{ name: 'success-rate', min: 90 }]), 10_000, { telemetry: store(at, [30, 0]), nacks: () => [nacks[2]!] });
    expect(clean.verdict.kind).toBe('pass');
  });
});
