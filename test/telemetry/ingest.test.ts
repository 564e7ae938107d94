/**
 * LRS and the stats sink over the wire, with raw clients speaking as Envoy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { openLrsStream, openStatsSinkStream } from '../support/telemetry-clients.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

let running: Awaited<ReturnType<typeof startControlPlane>>;
const host = 'orders.shop.svc.cluster.local';
const v2 = `outbound|8080|v2|${host}`;

beforeAll(async () => {
  running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() }, { telemetry: { slotMs: 100, lrsReportIntervalMs: 250 }, ejection: false });
});
afterAll(() => running.stop());

const debug = async () => (await running.admin('/debug/telemetry?windowMs=5000')).json() as { lrs: { streams: number }; versions: Array<Record<string, unknown>>; endpoints: Array<Record<string, unknown>> };

describe('telemetry ingest', () => {
  it('LRS: asks for every cluster at the configured interval with endpoint granularity, and sums reports', async () => {
    const stream = await openLrsStream(running.xdsAddress, 'envoy-1');
    expect(stream.responses[0]).toMatchObject({ send_all_clusters: true, report_endpoint_granularity: true, load_reporting_interval: { nanos: 250_000_000 } });
    expect((await debug()).lrs.streams).toBe(1);
    const report = (ok: number, failed: number) => ({
      cluster_name: v2,
      upstream_locality_stats: [
        {
          locality: {},
          total_successful_requests: ok,
          total_error_requests: failed,
          upstream_endpoint_stats: [{ address: { socket_address: { address: '10.0.0.2', port_value: 8080 } }, total_successful_requests: ok, total_error_requests: failed }],
        },
      ],
    });
    stream.send([report(30, 10), { cluster_name: 'not-ours', upstream_locality_stats: [{ total_successful_requests: 5 }] }]);
    stream.send([report(60, 0)]);
    await expect.poll(async () => (await debug()).versions.find((r) => r.source === 'lrs' && r.version === 'v2')?.requests, { timeout: 2000 }).toBe(100);
    const view = await debug();
    expect(view.versions.find((r) => r.version === 'v2')).toMatchObject({ errors: 10, successRate: 90 });
    expect(view.endpoints.find((r) => r.endpoint === '10.0.0.2:8080')).toMatchObject({ source: 'lrs', requests: 100, errors: 10 });
    stream.close();
    await expect.poll(async () => (await debug()).lrs.streams, { timeout: 2000 }).toBe(0);
  });

  it('stats sink: cumulative counters become deltas (first flush is a baseline), flat and tagged names, latency histograms', async () => {
    const sink = openStatsSinkStream(running.xdsAddress, 'envoy-2');
    const v1 = `outbound|8080|v1|${host}`;
    const flush = (ok: number, bad: number, fast: number, slow: number) => [
      { name: `cluster.${v1}.upstream_rq_2xx`, type: 0, metric: [{ counter: { value: ok } }] },
      { name: `cluster.${v1}.upstream_rq_5xx`, type: 0, metric: [{ counter: { value: bad } }] },
      { name: 'cluster.upstream_rq_xx', type: 0, metric: [{ label: [{ name: 'envoy_cluster_name', value: v2 }, { name: 'envoy_response_code_class', value: '5' }], counter: { value: bad } }] },
      {
        name: `cluster.${v1}.upstream_rq_time`,
        type: 4,
        metric: [{ histogram: { sample_count: fast + slow, bucket: [{ upper_bound: 10, cumulative_count: fast }, { upper_bound: 1000, cumulative_count: fast + slow }] } }],
      },
      { name: `cluster.${v1}.endpoint.10.0.0.1_8080.rq_error`, type: 0, metric: [{ counter: { value: bad } }] },
    ];
    sink.send(flush(1000, 1000, 1000, 1000)); // baseline: a proxy's history is not this interval's traffic
    sink.send(flush(1090, 1010, 1098, 1002));
    await expect.poll(async () => (await debug()).versions.find((r) => r.source === 'statsSink' && r.version === 'v1')?.requests, { timeout: 2000 }).toBe(100);
    const view = await debug();
    const row = view.versions.find((r) => r.source === 'statsSink' && r.version === 'v1')!;
    expect(row).toMatchObject({ errors: 10, successRate: 90, latencySamples: 100 });
    expect(row.p50Ms as number).toBeLessThanOrEqual(10);
    expect(row.p99Ms as number).toBeGreaterThan(10);
    expect(view.versions.find((r) => r.source === 'statsSink' && r.version === 'v2')).toMatchObject({ requests: 10, errors: 10 });
    expect(view.endpoints.find((r) => r.source === 'statsSink' && r.endpoint === '10.0.0.1:8080')).toMatchObject({ errors: 10 });
    // A counter that goes down was reset (Envoy restarted its stats): the new value is the delta.
    sink.send(flush(5, 0, 1098, 1002));
    await expect.poll(async () => (await debug()).versions.find((r) => r.source === 'statsSink' && r.version === 'v1')?.requests, { timeout: 2000 }).toBe(105);
    await sink.close();
  });
});
