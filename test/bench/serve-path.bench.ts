/**
 * The real serving path at production's shape (issue 17): `sluice serve
 * --config <dir>` as its own process, reading a generated mesh of YAML files;
 * N simulated Envoy sidecars in worker processes, each in a pod of its own
 * service (S services, so S distinct scopes, over K namespaces), subscribing
 * CDS, EDS, LDS and RDS as Envoy does and ACKing everything, over state of the
 * world and over delta. Two changes, each a file write: a weight edit in one
 * TrafficPolicy, and one endpoint (with its Pod) added to one EndpointSlice.
 * For each: write → every proxy received (and ACKed) the change, first/p50/
 * p99/max over proxies (first ≈ the pipeline alone, the rest adds fan-out); control-plane CPU from the write until it goes quiet; bytes
 * each proxy received. Memory per proxy after sync and after the pushes. The
 * same N streams against a bare grpc-js server sending one message of the
 * same size give the limit of this machine in the same run.
 *
 * The same mesh is also served from the Kubernetes source (`serve
 * --kubeconfig`) through the fake API server, where a change is the same
 * manifests applied.
 *
 * `npm run bench -- serve-path`; SLUICE_SERVE_PATH=1000x100x5,5000x500x20 (the
 * default) picks sizes as NxSxK; SLUICE_SERVE_PATH_SOURCES=yaml,kubernetes;
 * SLUICE_SERVE_PATH_PROTOCOLS=sotw,delta;
 * SLUICE_SERVE_PATH_ROUNDS=2 changes of each kind; SLUICE_SERVE_PATH_DIST=1
 * runs the built dist/ instead of the sources.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { extraAddress, meshFiles, namespaceOf, podsOf, policyText, serviceFilePaths, serviceFileText, type MeshShape } from '../support/generated-mesh.js';
import { measureBare, measureBareMemory } from './bare-limit.js';
import { ProxyFleet, type SidecarChangeReport } from './proxy-fleet.js';
import { ServedControlPlane, processCpuSeconds } from './serve-path-control-plane.js';
import { startMeshSource, type MeshSourceKind } from './serve-path-mesh.js';
import { sidecarTypeUrls, type SidecarIdentity, type XdsProtocol } from './serve-path-sidecar.js';

interface Size {
  readonly proxies: number;
  readonly services: number;
  readonly namespaces: number;
}

/** The issue's targets on a 2-core machine. */
const targets = {
  p99Ms: (proxies: number) => (proxies <= 1000 ? 1000 : 3000),
  cpuPerChange: (proxies: number) => (proxies <= 1000 ? 0.3 : undefined),
  rssPerProxy: 30 * 1024,
};

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A deadline for a race: unref'd, so a finished benchmark does not wait for it to expire before exiting. */
const deadline = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (value: number) => `${value.toFixed(0)} ms`;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
const out = (line: string) => process.stdout.write(`${line}\n`);
const debug = (text: string) => {
  if (process.env.SLUICE_BENCH_DEBUG) process.stderr.write(`[serve-path ${new Date().toISOString().slice(11, 23)}] ${text}\n`);
};

function parseSizes(text: string): Size[] {
  return text.split(',').map((spec) => {
    const [proxies, services, namespaces] = spec.split('x').map(Number);
    if (!proxies || !services || !namespaces || proxies % services !== 0) throw new Error(`SLUICE_SERVE_PATH: "${spec}" is not NxSxK with N a multiple of S (e.g. 1000x100x5)`);
    return { proxies, services, namespaces };
  });
}

/** Two versions per service, one pod per sidecar: N/S pods per service. */
function shapeOf(size: Size): MeshShape {
  const podsPerService = size.proxies / size.services;
  if (podsPerService % 2 !== 0) throw new Error(`N/S = ${podsPerService} must be even (two versions per service)`);
  // Services read from a cluster have ClusterIPs; SLUICE_SERVE_PATH_CLUSTER_IPS=0 measures a mesh without (one shared route table per port).
  const clusterIPs = process.env.SLUICE_SERVE_PATH_CLUSTER_IPS !== '0';
  return { services: size.services, versions: 2, endpointsPerVersion: podsPerService / 2, namespaces: size.namespaces, clusterIPs };
}

function sidecarsOf(shape: MeshShape): SidecarIdentity[] {
  const identities: SidecarIdentity[] = [];
  for (let i = 0; i < shape.services; i++) for (const pod of podsOf(i, shape)) identities.push({ nodeId: `${pod.name}.${pod.namespace}`, namespace: pod.namespace, labels: pod.labels });
  return identities;
}

interface ChangeResult {
  readonly kind: string;
  readonly received: number;
  readonly min: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly cpu: number;
  readonly fleetCpu: number;
  readonly bytesMean: number;
  readonly bytesMax: number;
  readonly responsesMean: number;
  /** Mean bytes per proxy by resource type. */
  readonly bytesByType: Record<string, number>;
}

/** One file write; waits until every proxy has the change (or the timeout), then until the control plane is quiet. */
async function measureChange(kind: string, controlPlane: ServedControlPlane, fleet: ProxyFleet, proxies: number, write: () => Promise<void>, typeUrl: string, marker?: string): Promise<ChangeResult> {
  await controlPlane.cpuWhenQuiet();
  const { everyProxy } = await fleet.watchChange(typeUrl, marker);
  const cpuBefore = controlPlane.cpuSeconds();
  const fleetBefore = fleet.pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
  controlPlane.toggleCpuProfile(); // one profile per change (SLUICE_SERVE_PATH_CPU_PROF)
  const started = now();
  await write();
  const timeout = deadline(120_000);
  if ((await Promise.race([everyProxy, timeout])) === 'timeout') debug(`${kind}: not every proxy had the change within 120 s`);
  const cpuAfter = await controlPlane.cpuWhenQuiet();
  controlPlane.toggleCpuProfile();
  const fleetAfter = fleet.pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
  const report: SidecarChangeReport = await fleet.collect();
  const times = report.times.filter((t): t is number => t !== null).map((t) => t - started).sort((a, b) => a - b);
  if (times.length === 0) throw new Error(`${kind}: no proxy received the change; control plane output:\n${controlPlane.recentOutput}`);
  return {
    kind,
    received: times.length,
    min: times[0]!,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times.at(-1)!,
    cpu: cpuAfter - cpuBefore,
    fleetCpu: fleetAfter - fleetBefore,
    bytesMean: report.bytes.reduce((a, b) => a + b, 0) / proxies,
    bytesMax: Math.max(...report.bytes),
    responsesMean: report.responses.reduce((a, b) => a + b, 0) / proxies,
    bytesByType: Object.fromEntries(Object.entries(report.typeBytes).map(([kind, bytes]) => [kind, bytes / proxies])),
  };
}

interface RunResult {
  readonly connectMs: number;
  readonly baseline: { rss: number; heap: number };
  readonly synced: { rss: number; heap: number };
  readonly afterPushes: { rss: number; heap: number };
  readonly idleCpuPerSecond: number;
  readonly changes: ChangeResult[];
}

async function measureServePath(size: Size, sourceKind: MeshSourceKind, protocol: XdsProtocol, rounds: number): Promise<RunResult> {
  const shape = shapeOf(size);
  const source = await startMeshSource(sourceKind, meshFiles(shape));
  const controlPlaneFleet: { controlPlane?: ServedControlPlane; fleet?: ProxyFleet } = {};
  try {
    const controlPlane = await ServedControlPlane.start({ ...source.serve, dist: process.env.SLUICE_SERVE_PATH_DIST === '1' });
    controlPlaneFleet.controlPlane = controlPlane;
    await controlPlane.cpuWhenQuiet();
    const baseline = await controlPlane.memory();
    debug(`control plane ${controlPlane.pid} up at ${controlPlane.xdsAddress}; connecting ${size.proxies} ${protocol} sidecars`);

    const fleet = new ProxyFleet();
    controlPlaneFleet.fleet = fleet;
    const connectStarted = now();
    await fleet.connectSidecars(sidecarsOf(shape), controlPlane.xdsAddress, protocol);
    const connectMs = now() - connectStarted;
    // Every sidecar must front its own service (distinct scopes), or the run measures the easy case.
    const sample = sidecarsOf(shape)[size.proxies - 1]!;
    const dump = await fetch(`${controlPlane.adminUrl}/debug/config_dump?proxy=${encodeURIComponent(sample.nodeId)}`).then((r) => r.text());
    if (!dump.includes('inbound|8080||')) throw new Error(`sidecar ${sample.nodeId} has no inbound cluster: it does not front its service (config_dump: ${dump.slice(0, 300)})`);
    await controlPlane.cpuWhenQuiet();
    const synced = await controlPlane.memory();
    const idleStart = controlPlane.cpuSeconds();
    await sleep(2000);
    const idleCpuPerSecond = (controlPlane.cpuSeconds() - idleStart) / 2;
    debug(`synced in ${connectMs.toFixed(0)} ms`);

    const changes: ChangeResult[] = [];
    for (let round = 0; round < rounds; round++) {
      // A different service each round, in a different namespace as the rounds go on.
      const policyService = (7 + round * 13) % size.services;
      const canaryWeight = 20 + round;
      const policyPath = serviceFilePaths(policyService, shape).policy;
      changes.push(
        await measureChange('weight edit', controlPlane, fleet, size.proxies, () => source.write(policyPath, policyText(policyService, namespaceOf(policyService, shape), shape.versions, canaryWeight)), sidecarTypeUrls.routes),
      );
      debug(`round ${round}: weight edit done`);
      const endpointService = (11 + round * 17) % size.services;
      const servicePath = serviceFilePaths(endpointService, shape).service;
      // Each round adds one more endpoint to a service that had none added, so the marker is new.
      changes.push(
        await measureChange('endpoint add', controlPlane, fleet, size.proxies, () => source.write(servicePath, serviceFileText(endpointService, shape, 1)), sidecarTypeUrls.endpoints, extraAddress(endpointService, 0)),
      );
      debug(`round ${round}: endpoint add done`);
    }
    const afterPushes = await controlPlane.memory();
    return { connectMs, baseline, synced, afterPushes, idleCpuPerSecond, changes };
  } finally {
    await controlPlaneFleet.fleet?.close();
    await controlPlaneFleet.controlPlane?.stop();
    await source.close();
  }
}


function verdict(value: number, target: number | undefined): string {
  if (target === undefined) return '';
  return value <= target ? 'ok' : 'MISSED';
}

type BareLimit = { ms: number } | { incomplete: string };

function report(size: Size, sourceKind: MeshSourceKind, protocol: XdsProtocol, result: RunResult): void {
  const { proxies } = size;
  out(`-- N=${proxies} S=${size.services} K=${size.namespaces} ${sourceKind} ${protocol}: fleet started and every proxy synced in ${ms(result.connectMs)}; control plane idle ${(result.idleCpuPerSecond * 1000).toFixed(0)} ms CPU/s; load ${load()}`);
  out('   change         proxies    first    p50      p99      max      target p99         CP CPU  target         fleet CPU  bytes/proxy mean (max)  responses/proxy  bytes by type');
  for (const c of result.changes) {
    const p99Target = targets.p99Ms(proxies);
    const cpuTarget = targets.cpuPerChange(proxies);
    out(
      `   ${c.kind.padEnd(14)} ${`${c.received}/${proxies}`.padEnd(10)} ${ms(c.min).padEnd(8)} ${ms(c.p50).padEnd(8)} ${ms(c.p99).padEnd(8)} ${ms(c.max).padEnd(8)} ≤ ${ms(p99Target).padEnd(8)} ${verdict(c.p99, p99Target).padEnd(6)} ` +
        `${c.cpu.toFixed(2)} s  ${(cpuTarget === undefined ? '—' : `≤ ${cpuTarget} s ${verdict(c.cpu, cpuTarget)}`).padEnd(14)} ${c.fleetCpu.toFixed(2)} s     ` +
        `${kb(c.bytesMean)} (${kb(c.bytesMax)})`.padEnd(24) + c.responsesMean.toFixed(1).padEnd(16) + ' ' + Object.entries(c.bytesByType).map(([kind, bytes]) => `${kind} ${kb(bytes)}`).join(', '),
    );
  }
  const rssSynced = (result.synced.rss - result.baseline.rss) / proxies;
  const heapSynced = (result.synced.heap - result.baseline.heap) / proxies;
  out(
    `   memory: before proxies RSS ${(result.baseline.rss / 2 ** 20).toFixed(0)} MB, heap ${(result.baseline.heap / 2 ** 20).toFixed(0)} MB; per connected proxy after sync RSS ${kb(rssSynced)} (target ≤ ${kb(targets.rssPerProxy)} ${verdict(rssSynced, targets.rssPerProxy)}), heap ${kb(heapSynced)}; ` +
      `growth after ${result.changes.length} pushes RSS ${kb((result.afterPushes.rss - result.synced.rss) / proxies)}/proxy, heap ${kb((result.afterPushes.heap - result.synced.heap) / proxies)}/proxy (target: none lasting)`,
  );
}

/** SLUICE_SERVE_PATH_JSON=<file>: every run's figures appended as one JSON line, for comparing runs. */
function record(entry: unknown): void {
  const file = process.env.SLUICE_SERVE_PATH_JSON;
  if (!file) return;
  // The commit measured, and whether the tree had uncommitted changes: figures move with the code.
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  };
  const commit = git('rev-parse', '--short', 'HEAD');
  const dirty = (git('status', '--porcelain', '--', 'control-plane') ?? '') !== '';
  appendFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), commit, dirty, ...(entry as object) })}\n`);
}

export async function run(): Promise<void> {
  const sizes = parseSizes(process.env.SLUICE_SERVE_PATH ?? '1000x100x5,5000x500x20');
  const protocols = (process.env.SLUICE_SERVE_PATH_PROTOCOLS ?? 'sotw,delta').split(',').map((p) => p.trim()) as XdsProtocol[];
  for (const p of protocols) if (p !== 'sotw' && p !== 'delta') throw new Error(`SLUICE_SERVE_PATH_PROTOCOLS: unknown protocol "${p}"`);
  const rounds = Number(process.env.SLUICE_SERVE_PATH_ROUNDS ?? 2);
  out(
    `sluice serve (its own process; --config <dir> or --kubeconfig to the fake API server) ← N simulated Envoy sidecars in 4 worker processes, one per pod, each fronting its own service; ` +
      `a change is one file write or kubectl-style apply (the source's 50 ms file debounce or 75 ms watch coalescing and the 100 ms push debounce included); CP CPU = control-plane CPU from the write until it is quiet; ` +
      `fleet CPU = the simulated proxies' (same 2 cores); bare limit = same N streams sent one message of the mean bytes/proxy by bare grpc-js. Load at start: ${load()}`,
  );
  const sources = (process.env.SLUICE_SERVE_PATH_SOURCES ?? 'yaml,kubernetes').split(',').map((p) => p.trim()) as MeshSourceKind[];
  for (const k of sources) if (k !== 'yaml' && k !== 'kubernetes') throw new Error(`SLUICE_SERVE_PATH_SOURCES: unknown source "${k}"`);
  for (const size of sizes) {
    for (const sourceKind of sources) for (const protocol of protocols) {
      const result = await measureServePath(size, sourceKind, protocol, rounds);
      // One limit per kind of change, for the bytes its first occurrence sent each proxy.
      // Printed first without it, so a failing limit run cannot lose the figures.
      report(size, sourceKind, protocol, result);
      const bare = new Map<string, BareLimit>();
      for (const c of result.changes) {
        if (bare.has(c.kind)) continue;
        const limit = await measureBare(size.proxies, c.bytesMean);
        bare.set(c.kind, limit);
        out(`   bare grpc-js limit for ${c.kind} (${size.proxies} streams × ${kb(c.bytesMean)}): ${'ms' in limit ? `${ms(limit.ms)}; first ${c.kind} p99 ÷ limit ${(c.p99 / limit.ms).toFixed(1)}×` : `did not complete (${limit.incomplete})`}`);
      }
      const bareMemory = await measureBareMemory(size.proxies);
      out(`   bare grpc-js memory: ${'rssPerStream' in bareMemory ? `RSS ${kb(bareMemory.rssPerStream)} per held stream (its own process, after a full GC): the floor under RSS per connected proxy` : `did not complete (${bareMemory.incomplete})`}`);
      record({ size, sourceKind, protocol, result, bare: { ...Object.fromEntries(bare), memory: bareMemory }, load: loadavg() });
    }
  }
}
