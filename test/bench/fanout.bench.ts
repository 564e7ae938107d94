/**
 * Fan-out: N simulated proxies (raw ADS clients in worker processes) connected
 * over loopback; one policy change; time until every proxy has the new route
 * table and has ACKed it; control-plane memory per connected proxy. The limit
 * is the same N streams sent one pre-encoded message of the same size by a bare
 * grpc-js server: our time is printed as a ratio to it.
 * Targets (2 cores): 1,000 proxies ≤ 1 s, 5,000 ≤ 3 s, ≤ 30 KB per proxy, ratio ≤ 1.5×.
 *
 * `npm run bench -- fanout` runs N = 100, 1,000, 5,000; SLUICE_FANOUT=100,1000 picks others.
 */
import { ControlPlane } from '../../control-plane/pipeline/control-plane.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import { typeUrls } from '../support/ads-client.js';
import { meshFiles, policyText } from '../support/generated-mesh.js';
import { measureBare } from './bare-limit.js';
import { ProxyFleet } from './proxy-fleet.js';
import { PushedSource } from '../support/pushed-source.js';


const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const now = () => performance.timeOrigin + performance.now();
const debug = (text: string) => { if (process.env.SLUICE_BENCH_DEBUG) process.stderr.write(`[fanout] ${text}\n`); };
/** Heap and off-heap buffers: steadier than RSS, which keeps freed pages and counts other allocators. */
const memory = () => {
  const m = process.memoryUsage();
  return { live: m.heapUsed + m.external, rss: m.rss };
};
const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function measureOurs(n: number): Promise<{ p50: number; p99: number; max: number; allAcked: number; bytesPerProxy: number; rssPerProxy: number; responseBytes: number }> {
  const files = meshFiles({ services: 100, versions: 2, endpointsPerVersion: 3, namespaces: 1 });
  const source = new PushedSource(loadFromTexts(files));
  const logger = createLogger('warn');
  const controlPlane = new ControlPlane({ source, logger, host: '127.0.0.1', xdsPort: 0, adminPort: 0, debounceMs: 0 });
  const { xdsPort } = await controlPlane.start();
  await new Promise((r) => setTimeout(r, 50));
  const edsNames = [...controlPlane.store.current!.services.values()].flatMap((s) => ['', ...s.versions.keys()].map((v) => `outbound|8080|${v}|${s.host}`));
  const fleet = new ProxyFleet();
  gc();
  await new Promise((r) => setTimeout(r, 200));
  const before = memory();
  debug(`connecting ${n} proxies`);
  await fleet.connect(n, { mode: 'ads', address: `127.0.0.1:${xdsPort}`, edsNames });
  gc();
  await new Promise((r) => setTimeout(r, 500));
  gc();
  const after = memory();

  debug('connected; arming');
  const armed = await fleet.arm(typeUrls.routes);
  debug('armed; changing the policy');
  const changed = files.map(([name, text]) => (name === 'ns-0/svc-0007-policy.yaml' ? [name, policyText(7, 'ns-0', 2, 40)] : [name, text]) as [string, string]);
  const load = loadFromTexts(changed);
  const started = now();
  source.push(load);
  const times = (await armed.received).map((t) => t - started);
  // Wait until the server has processed every ACK.
  const ackDeadline = Date.now() + 30_000;
  let allAcked = 0;
  for (;;) {
    const rows = controlPlane.connections.all();
    if (rows.length >= n && rows.every((c) => c.types.routes?.acked === c.types.routes?.sent)) {
      allAcked = now() - started;
      break;
    }
    if (Date.now() > ackDeadline) throw new Error('not every proxy ACKed within 30 s');
    await new Promise((r) => setImmediate(r));
  }
  const view = controlPlane.cache.view({ mode: 'sidecar', namespace: 'ns-0', servedHosts: [] })!;
  const responseBytes = controlPlane.cache.sotwResponse(view, 'routes', new Set(['8080']), 'bench').bytes.length;
  await fleet.close();
  await controlPlane.stop();
  return { p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times), allAcked, bytesPerProxy: (after.live - before.live) / n, rssPerProxy: (after.rss - before.rss) / n, responseBytes };
}


export async function run(): Promise<void> {
  const sizes = (process.env.SLUICE_FANOUT ?? '100,1000,5000').split(',').map(Number);
  if (!(globalThis as { gc?: unknown }).gc) process.stdout.write('(run with node --expose-gc for steadier memory figures; npm run bench does)\n');
  process.stdout.write(`mesh: 100 services × 2 versions; every proxy a sidecar in one scope subscribing CDS, EDS (${300} clusters), LDS, RDS; change: one policy's weights (one RDS push each)\n`);
  for (const n of sizes) {
    const ours = await measureOurs(n);
    const limit = await measureBare(n, ours.responseBytes);
    if (!('ms' in limit)) throw new Error(`bare grpc-js limit did not finish: ${limit.incomplete}`);
    const bare = limit.ms;
    process.stdout.write(
      `N=${n}: received p50 ${ours.p50.toFixed(0)} ms, p99 ${ours.p99.toFixed(0)} ms, max ${ours.max.toFixed(0)} ms; all ACKed at the server ${ours.allAcked.toFixed(0)} ms; ` +
        `memory ${(ours.bytesPerProxy / 1024).toFixed(1)} KB/proxy heap+buffers, ${(ours.rssPerProxy / 1024).toFixed(1)} KB RSS; ` +
        `limit (bare grpc-js, ${ours.responseBytes} B to each) ${bare.toFixed(0)} ms; ratio ${(ours.allAcked / bare).toFixed(2)}×\n`,
    );
  }
}
