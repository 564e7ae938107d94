/**
 * A canary judged by PromQL against a real Prometheus (Debian's `prometheus`,
 * which .ci/run installs), started here on 127.0.0.1 with a temp dir,
 * scraping a prom-client exporter that counts requests per version. Skips,
 * saying why, only where the binary is absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusClient } from '../../control-plane/telemetry/prometheus-query.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersService } from '../support/temp-config.js';

const binary = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
const reason = 'the prometheus binary is not installed (apt-get install prometheus; .ci/run does it)';
if (!binary) process.stderr.write(`canary-prometheus.test.ts skipped: ${reason}\n`);

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createNetServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });

let prometheus: ChildProcess | undefined;
let exporter: Server | undefined;
let dir = '';
let prometheusUrl = '';
const registry = new Registry();
const requests = new Counter({ name: 'test_requests_total', help: 'requests by version and outcome', labelNames: ['version', 'outcome'], registers: [registry] });
/** Share of failing canary requests the exporter's traffic has. */
let canaryErrorShare = 0;
let traffic: NodeJS.Timeout | undefined;

describe.skipIf(!binary)(`canary metrics from a real Prometheus${binary ? '' : ` (skipped: ${reason})`}`, () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sluice-prom-'));
    exporter = createServer((_req, res) => {
      void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
    });
    await new Promise<void>((resolve) => exporter!.listen(0, '127.0.0.1', resolve));
    const exporterPort = (exporter.address() as { port: number }).port;
    // Steady traffic: 200 requests/s per version.
    traffic = setInterval(() => {
      for (let i = 0; i < 10; i++) {
        requests.inc({ version: 'v1', outcome: 'ok' });
        requests.inc({ version: 'v2', outcome: Math.random() < canaryErrorShare ? 'error' : 'ok' });
      }
    }, 50);
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    await writeFile(path.join(dir, 'prometheus.yml'), `global: { scrape_interval: 200ms, evaluation_interval: 1s }
scrape_configs:
  - job_name: exporter
    static_configs: [{ targets: ['127.0.0.1:${exporterPort}'] }]
`);
    prometheus = spawn(binary, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const client = new PrometheusClient({ url: prometheusUrl, timeoutMs: 1000 });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const outcome = await client.query('sum(test_requests_total)').catch(() => undefined);
      if (outcome?.kind === 'value') break;
      if (Date.now() > deadline) throw new Error('Prometheus did not start scraping within 20 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 30_000);

  afterAll(async () => {
    clearInterval(traffic);
    prometheus?.kill('SIGTERM');
    await new Promise((r) => (prometheus && prometheus.exitCode === null ? prometheus.once('exit', r) : r(undefined)));
    await new Promise((r) => exporter?.close(r));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the PromQL client reads scalars and vectors, and reports no data and errors distinctly', async () => {
    const client = new PrometheusClient({ url: prometheusUrl });
    expect(await client.query('1 + 1')).toEqual({ kind: 'value', value: 2 });
    expect((await client.query('sum(test_requests_total{version="v1"})')).kind).toBe('value');
    expect(await client.query('sum(test_requests_total{version="nope"})')).toEqual({ kind: 'no-data', reason: 'the query returned no samples' });
    await expect(client.query('sum(')).rejects.toThrow(/Prometheus rejected the query \(bad_data\)/);
    await expect(client.query('test_requests_total')).rejects.toThrow(/aggregate it to one/);
  });

  it('a passing query advances the canary; a failing one rolls it back', async () => {
    const policy = `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions: { v1: { labels: { version: v1 } }, v2: { labels: { version: v2 } } }
`;
    const canary = `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  stable: v1
  canary: v2
  steps: [20, 40, 60, 80]
  interval: 700ms
  threshold: 2
  metrics:
    - name: custom
      source: prometheus
      min: 95
      query: 100 * sum(rate(test_requests_total{version="{{ canary }}",outcome="ok"}[2s])) / sum(rate(test_requests_total{version="{{ canary }}"}[2s]))
`;
    const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': policy, 'canary.yaml': canary }, { prometheusUrl });
    try {
      const view = async () => (await running.admin('/api/v1/canaries/shop/orders')).json() as { phase: string; canaryWeight: number; message: string };
      await expect.poll(async () => (await view()).canaryWeight, { timeout: 8000, interval: 100 }).toBeGreaterThanOrEqual(40);
      canaryErrorShare = 0.5;
      await expect.poll(async () => (await view()).phase, { timeout: 10_000, interval: 100 }).toBe('Failed');
      expect((await view()).message).toMatch(/custom \d+(\.\d+)? < min 95/);
    } finally {
      canaryErrorShare = 0;
      await running.stop();
    }
  });
});
