/**
 * The recording rules and every Grafana panel query of examples/observability/
 * return data from a real Prometheus (Debian's, which .ci/run installs) that
 * scrapes what a Sluice mesh exposes:
 *
 * - sidecars' Envoy stats, as /stats/prometheus names them
 *   (envoy_cluster_upstream_rq_total / _xx / _time_bucket by envoy_cluster_name),
 *   from an exporter simulating the traffic of a 90/10 split where v2 fails
 *   20% of requests and is slower;
 * - the control plane's real /metrics, with a raw xDS client that ACKs
 *   clusters and NACKs listeners, and a canary being analysed.
 *
 * The numbers are checked, not just their presence. Skips, saying why, only
 * where the binary is absent.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATENCY_BOUNDS_MS } from '../../control-plane/telemetry/telemetry-store.js';
import { SotwClient, typeUrls } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersService } from '../support/temp-config.js';
import { instantQuery, panelQueries, prometheusBinary, prometheusMissing, recordingRules, rulesText, startPrometheus } from './observability-files.js';

if (!prometheusBinary) process.stderr.write(`prometheus.test.ts skipped: ${prometheusMissing}\n`);

const host = 'orders.shop.svc.cluster.local';
const cluster = (version: string) => `outbound|8080|${version}|${host}`;

/** One sidecar's cluster stats in Envoy's Prometheus naming. */
const registry = new Registry();
const rqTotal = new Counter({ name: 'envoy_cluster_upstream_rq_total', help: 'requests', labelNames: ['envoy_cluster_name'], registers: [registry] });
const rqXx = new Counter({ name: 'envoy_cluster_upstream_rq_xx', help: 'requests by class', labelNames: ['envoy_cluster_name', 'envoy_response_code_class'], registers: [registry] });
const rqTime = new Histogram({ name: 'envoy_cluster_upstream_rq_time', help: 'request time (ms)', labelNames: ['envoy_cluster_name'], buckets: [...LATENCY_BOUNDS_MS], registers: [registry] });

function request(clusterName: string, failed: boolean, latencyMs: number): void {
  rqTotal.inc({ envoy_cluster_name: clusterName });
  rqXx.inc({ envoy_cluster_name: clusterName, envoy_response_code_class: failed ? '5' : '2' });
  rqTime.observe({ envoy_cluster_name: clusterName }, latencyMs);
}

let exporter: Server | undefined;
let traffic: NodeJS.Timeout | undefined;
let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
let controlPlane: Awaited<ReturnType<typeof startControlPlane>> | undefined;
let proxy: SotwClient | undefined;
let churn: NodeJS.Timeout | undefined;
let acking: Promise<void> | undefined;
let running = true;

const policy = (maxConnections: number) => `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions: { v1: { labels: { version: v1 } }, v2: { labels: { version: v2 } } }
  routes: [{ name: split, to: [{ version: v1, weight: 90 }, { version: v2, weight: 10 }] }]
  circuitBreaker: { maxConnections: ${maxConnections} }
`;
const canary = `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  stable: v1
  canary: v2
  steps: [10, 50]
  interval: 1s
  threshold: 50
  metrics: [{ name: success-rate, min: 99, source: lrs, minRequests: 1 }]
`;

async function poll<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 25_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(!prometheusBinary)(`recording rules and dashboards against a real Prometheus${prometheusBinary ? '' : ` (skipped: ${prometheusMissing})`}`, () => {
  beforeAll(async () => {
    exporter = createServer((_req, res) => void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text)));
    await new Promise<void>((resolve) => exporter!.listen(0, '127.0.0.1', resolve));
    const exporterPort = (exporter.address() as { port: number }).port;
    // 1,000 requests/s: 90% to v1 (fast, healthy), 10% to v2 (slower, 20% 5xx); the inbound
    // cluster counts the same requests again on the server side and must be left out.
    traffic = setInterval(() => {
      for (let i = 0; i < 100; i++) {
        const v2 = i % 10 === 0;
        request(cluster(v2 ? 'v2' : 'v1'), v2 && i % 50 === 0, v2 ? 200 + (i % 7) * 40 : 5 + (i % 5) * 3);
        request('inbound|8080||', false, 1);
      }
    }, 100);

    controlPlane = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': policy(1000), 'canary.yaml': canary }, { telemetry: { slotMs: 100, lrsReportIntervalMs: 150 } });
    proxy = new SotwClient(controlPlane.xdsAddress, { nodeId: 'frontend-0.shop', metadata: { namespace: 'shop', labels: { app: 'frontend' }, mode: 'sidecar' } });
    proxy.request(typeUrls.clusters);
    proxy.ack(await proxy.nextOf(typeUrls.clusters));
    proxy.request(typeUrls.listeners);
    proxy.nack(await proxy.nextOf(typeUrls.listeners), 'listener 0.0.0.0_15001: rejected on purpose by the test');
    // Configuration keeps changing (a circuit-breaker edit every 1.5 s) and the proxy ACKs every
    // cluster push, so push counts and snapshot → ACK latencies keep coming as in a live mesh.
    acking = (async () => {
      while (running) {
        const response = await proxy!.nextOf(typeUrls.clusters, 1000).catch(() => undefined);
        if (response && running) proxy!.ack(response);
      }
    })();
    let edits = 0;
    churn = setInterval(() => void controlPlane!.config.write('tp.yaml', policy(1000 + (++edits % 2))), 1500);

    const adminPort = controlPlane.controlPlane.admin.port;
    const rules = rulesText().replaceAll('interval: 15s', 'interval: 1s');
    prometheus = await startPrometheus(
      (dir) => `global: { scrape_interval: 500ms, evaluation_interval: 1s }
rule_files: ['${dir}/rules.yaml']
scrape_configs:
  - job_name: sluice-envoy
    static_configs: [{ targets: ['127.0.0.1:${exporterPort}'], labels: { namespace: shop, pod: frontend-0 } }]
  - job_name: sluice-control-plane
    static_configs: [{ targets: ['127.0.0.1:${adminPort}'], labels: { pod: sluice-0 } }]
`,
      { 'rules.yaml': rules },
    );
  }, 60_000);

  afterAll(async () => {
    clearInterval(traffic);
    clearInterval(churn);
    running = false;
    await acking;
    proxy?.close();
    await prometheus?.stop();
    await controlPlane?.stop();
    await new Promise((r) => (exporter ? exporter.close(r) : r(undefined)));
  });

  it('every recording rule returns data', async () => {
    const rules = recordingRules();
    expect(rules.length).toBeGreaterThanOrEqual(15);
    for (const rule of rules) {
      const samples = await poll(`${rule.record} (${rule.group})`, async () => {
        const result = await instantQuery(prometheus!.url, rule.record);
        return result.some((s) => Number.isFinite(s.value)) ? result : undefined;
      });
      expect(samples.length, rule.record).toBeGreaterThan(0);
    }
  }, 90_000);

  it('the golden signals per version are what the traffic was: split, error ratio, latency; inbound not double-counted', async () => {
    const byVersion = async (record: string) => {
      const samples = await instantQuery(prometheus!.url, record);
      return Object.fromEntries(samples.map((s) => [s.metric.destination_version, s.value]));
    };
    const share = await poll('a settled split', async () => {
      const s = await byVersion('service_version:sluice_traffic_share:rate1m');
      return s.v1 !== undefined && s.v2 !== undefined ? s : undefined;
    });
    expect(share.v1).toBeGreaterThan(0.85);
    expect(share.v1).toBeLessThan(0.95);
    expect(share.v2).toBeGreaterThan(0.05);
    expect(share.v2).toBeLessThan(0.15);
    const services = (await instantQuery(prometheus!.url, 'service:sluice_requests:rate1m')).map((s) => s.metric.destination_service);
    expect(services).toEqual([host]);
    const errors = await byVersion('service_version:sluice_request_error_ratio:rate1m');
    expect(errors.v1).toBe(0);
    expect(errors.v2).toBeGreaterThan(0.1);
    expect(errors.v2).toBeLessThan(0.3);
    const p99 = await byVersion('service_version:sluice_request_duration_ms:p99');
    const p50 = await byVersion('service_version:sluice_request_duration_ms:p50');
    expect(p99.v1).toBeLessThanOrEqual(25);
    expect(p99.v2).toBeGreaterThan(250);
    expect(p50.v2).toBeLessThan(p99.v2!);
    const nacks = await instantQuery(prometheus!.url, 'sluice:xds_nacks:rate5m');
    expect(nacks.map((s) => s.metric.type)).toContain('listeners');
  }, 60_000);

  it('every Grafana panel query returns data', async () => {
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThanOrEqual(25);
    const empty: string[] = [];
    for (const query of queries) {
      const samples = await poll(`${query.dashboard}: ${query.panel}`, async () => {
        const result = await instantQuery(prometheus!.url, query.expr);
        return result.length > 0 ? result : undefined;
      }, 10_000).catch(() => undefined);
      if (!samples) empty.push(`${query.dashboard}: ${query.panel}: ${query.expr}`);
    }
    expect(empty).toEqual([]);
  }, 120_000);
});
