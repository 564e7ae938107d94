/**
 * `npm run bench -- telemetry`:
 *  1. ingest rate on one core with 1,000 proxies reporting: Envoy stats-sink
 *     flushes (10 clusters each: three response-class counters and the
 *     upstream_rq_time histogram) and LRS reports, decoded messages folded
 *     into the telemetry store (the per-proxy delta state included);
 *  2. time from a bad metric to the rollback snapshot ACKed by every proxy:
 *     real @grpc/grpc-js-xds clients connected to `ControlPlane`, a canary
 *     at 50%, then a flush reporting v2 failing; measured until /debug/syncz
 *     shows every proxy ACKed the rolled-back snapshot.
 */
import { register } from '@grpc/grpc-js-xds';
import { createLogger } from '../../control-plane/log/logger.js';
import { LoadReportingServer } from '../../control-plane/telemetry/load-reporting.js';
import { SinkStreamState, StatsSinkServer } from '../../control-plane/telemetry/stats-sink.js';
import { TelemetryStore } from '../../control-plane/telemetry/telemetry-store.js';
import { startControlPlane } from '../support/control-plane.js';
import { echoServiceManifests, startEchoBackend, xdsEchoClient } from '../support/echo-backend.js';
import { EnvoyClusterStats, openStatsSinkStream } from '../support/telemetry-clients.js';

const PROXIES = 1000;
const CLUSTERS = 10;

function ingestRate(): void {
  const telemetry = new TelemetryStore({ slotMs: 1000 });
  const sink = new StatsSinkServer({ telemetry, logger: createLogger('silent') });
  const states = Array.from({ length: PROXIES }, () => new SinkStreamState());
  const stats = Array.from({ length: PROXIES }, (_, p) => Array.from({ length: CLUSTERS }, (_, c) => new EnvoyClusterStats(`outbound|8080|v${c % 2 + 1}|svc-${c}.ns-${p % 20}.svc.cluster.local`)));
  let samples = 0;
  const rounds = 6;
  let elapsed = 0;
  for (let round = 0; round < rounds; round++) {
    const messages = stats.map((clusters) => {
      for (const cluster of clusters) for (let i = 0; i < 20; i++) cluster.observe(i % 17 === 0 ? 5 : 2, (i * 7) % 300);
      return { envoy_metrics: clusters.flatMap((c) => c.families()) as never };
    });
    const started = process.hrtime.bigint();
    for (let p = 0; p < PROXIES; p++) samples += sink.ingest(states[p]!, messages[p]!);
    elapsed += Number(process.hrtime.bigint() - started) / 1e6;
  }
  process.stdout.write(`stats sink: ${PROXIES} proxies × ${CLUSTERS} clusters × ${rounds} flushes: ${samples} samples in ${elapsed.toFixed(0)} ms → ${Math.round(samples / (elapsed / 1000)).toLocaleString('en')} samples/s on one core (series in store: ${telemetry.seriesCount})\n`);

  const lrs = new LoadReportingServer({ telemetry, logger: createLogger('silent') });
  const reports = Array.from({ length: PROXIES }, (_, p) => ({
    cluster_stats: Array.from({ length: CLUSTERS }, (_, c) => ({
      cluster_name: `outbound|8080|v${c % 2 + 1}|svc-${c}.ns-${p % 20}.svc.cluster.local`,
      upstream_locality_stats: [{ locality: { zone: `z${c % 3}` }, total_successful_requests: 95, total_error_requests: 5 }],
    })),
  }));
  const started = process.hrtime.bigint();
  const lrsRounds = 20;
  for (let round = 0; round < lrsRounds; round++) for (const report of reports) lrs.ingest(report);
  const lrsMs = Number(process.hrtime.bigint() - started) / 1e6;
  const lrsSamples = PROXIES * CLUSTERS * lrsRounds;
  process.stdout.write(`LRS: ${PROXIES} proxies × ${CLUSTERS} clusters × ${lrsRounds} reports: ${lrsSamples} cluster stats in ${lrsMs.toFixed(0)} ms → ${Math.round(lrsSamples / (lrsMs / 1000)).toLocaleString('en')} samples/s on one core\n`);
}

async function rollbackLatency(clientsCount = 50): Promise<void> {
  register();
  const v1 = await startEchoBackend('v1');
  const v2 = await startEchoBackend('v2');
  const interval = 250;
  const running = await startControlPlane({
    'mesh.yaml': `${echoServiceManifests([v1, v2])}---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: echo, namespace: shop }
spec: { service: echo, versions: { v1: { labels: { version: v1 } }, v2: { labels: { version: v2 } } } }
---
apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: echo, namespace: shop }
spec: { service: echo, stable: v1, canary: v2, steps: [50, 60, 70, 80, 90], interval: ${interval}ms, threshold: 1, metrics: [{ name: success-rate, min: 99, minRequests: 5 }] }
`,
  }, { telemetry: { slotMs: 50 } });
  const sink = openStatsSinkStream(running.xdsAddress, 'bench-sidecar');
  const v2Stats = new EnvoyClusterStats('outbound|9090|v2|echo.shop.svc.cluster.local');
  let bad = false;
  const flusher = setInterval(() => {
    for (let i = 0; i < 20; i++) v2Stats.observe(bad ? 5 : 2, 3);
    sink.send(v2Stats.families());
  }, 50);
  const clients = Array.from({ length: clientsCount }, (_, i) => xdsEchoClient('echo.shop.svc.cluster.local:9090', running.xdsAddress, { id: `bench-${i}`, metadata: { namespace: 'shop', mode: 'proxyless' } }));
  await Promise.all(clients.map((c) => c.whoami().catch(() => undefined)));
  const view = () => running.controlPlane.canaries.get('shop', 'echo')!;
  const deadline = (what: string, ms = 15_000) => {
    const end = Date.now() + ms;
    return () => {
      if (Date.now() > end) throw new Error(`bench: ${what} did not happen within ${ms} ms (canary: ${JSON.stringify(view())})`);
    };
  };
  const progressing = deadline('Progressing');
  while (view().phase !== 'Progressing') {
    progressing();
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 100));
  type Row = { nodeId: string; types: Record<string, { status: string; sent?: string }> };
  const rowsNow = () => running.controlPlane.connections.syncStatus(running.controlPlane.cache.snapshot?.version) as unknown as Row[];
  // The route version each proxy holds at 50%: the rollback must replace it (and be ACKed) everywhere.
  const routesBefore = new Map(rowsNow().map((row) => [row.nodeId, row.types.routes?.sent]));
  bad = true;
  const t0 = performance.now();
  const rolling = deadline('RollingBack');
  while (view().phase !== 'RollingBack' && view().phase !== 'Failed') {
    rolling();
    await new Promise((r) => setTimeout(r, 2));
  }
  const decided = performance.now() - t0;
  const synced = deadline('all proxies ACKing the rollback');
  for (;;) {
    synced();
    const rows = rowsNow().filter((row) => routesBefore.has(row.nodeId));
    if (rows.length >= clientsCount && rows.every((row) => row.types.routes?.sent !== routesBefore.get(row.nodeId) && row.types.routes?.status === 'SYNCED')) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const acked = performance.now() - t0;
  process.stdout.write(`rollback: canary interval ${interval} ms, ${clientsCount} proxyless proxies: bad metric → RollingBack decided ${decided.toFixed(0)} ms (waits for the next interval), → rollback snapshot ACKed by all ${acked.toFixed(0)} ms\n`);
  clearInterval(flusher);
  await sink.close();
  for (const c of clients) c.close();
  await running.stop();
  await v1.stop();
  await v2.stop();
}

export async function run(): Promise<void> {
  ingestRate();
  await rollbackLatency();
}
