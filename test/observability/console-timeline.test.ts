/**
 * The console's timeline recorder and state document, on a real model store
 * and telemetry store with a controlled clock: the numbers per version, the
 * bounds on memory, the incremental `since` cursor, and the live split.
 */
import { describe, expect, it } from 'vitest';
import type { CanaryView } from '../../control-plane/canary/controller.js';
import { buildConsoleState, describeMatch, MAX_PROXY_ROWS } from '../../control-plane/console/console-state.js';
import { ConsoleTimeline, metricBound, TimelineError } from '../../control-plane/console/timeline.js';
import { analyse } from '../../control-plane/canary/analysis.js';
import type { Canary } from '../../control-plane/model/snapshot.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import { matchEverything } from '../../control-plane/model/traffic.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import { LATENCY_BOUNDS_MS, TelemetryStore } from '../../control-plane/telemetry/telemetry-store.js';
import { meshFiles, snapshotOf } from '../support/generated-mesh.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const host = 'orders.shop.svc.cluster.local';
const logger = createLogger('silent');

function setup(options: { maxPoints?: number; maxDecisions?: number } = {}) {
  let now = 1_000_000;
  const store = new SnapshotStore(logger);
  store.apply(loadFromTexts([['svc.yaml', ordersService], ['tp.yaml', ordersPolicy([90, 10])]]));
  const telemetry = new TelemetryStore({ slotMs: 100, now: () => now });
  const canaries: CanaryView[] = [];
  const timeline = new ConsoleTimeline({ snapshot: () => store.current, telemetry, canaries: () => canaries }, logger, { sampleMs: 1000, rateWindowMs: 1000, now: () => now, ...options });
  return { store, telemetry, canaries, timeline, advance: (ms: number) => (now += ms), at: () => now };
}

const view = (changes: Partial<CanaryView> = {}): CanaryView => ({
  namespace: 'shop', name: 'orders', service: 'orders', stable: 'v1', canary: 'v2', steps: [20, 50], interval: '1s', threshold: 3,
  phase: 'Progressing', canaryWeight: 20, stepIndex: 0, failedChecks: 0, canaryVersion: 'v2', lastTransitionTime: new Date(0).toISOString(), message: 'weight 20%',
  ...changes,
});

describe('console timeline', () => {
  it('samples each version\'s rate, error ratio and p99 from both telemetry sources', () => {
    const { telemetry, timeline } = setup();
    const latency = { boundsMs: [...LATENCY_BOUNDS_MS], counts: LATENCY_BOUNDS_MS.map((b) => (b === 250 ? 100 : 0)) };
    telemetry.recordVersion('statsSink', host, 'v2', 90, 10, latency);
    telemetry.recordVersion('lrs', host, 'v1', 50, 0);
    telemetry.recordVersion('statsSink', host, 'v1', 30, 0);
    timeline.sample();
    const v2 = timeline.signals(host).get('v2')!;
    expect(v2.rps).toBe(100);
    expect(v2.errorRatio).toBeCloseTo(0.1);
    expect(v2.p99Ms).toBeGreaterThan(100);
    expect(v2.p99Ms).toBeLessThanOrEqual(250);
    const v1 = timeline.signals(host).get('v1')!;
    expect(v1.rps).toBe(80);
    expect(v1.errorRatio).toBe(0);
    expect(v1.p99Ms).toBeUndefined();
    expect(timeline.serviceSeries(host)!.versions.v2!.rps).toEqual([100]);
  });

  it('a metric without a source is LRS and stats sink summed, as the analysis reads it, not the stats sink alone', async () => {
    const { telemetry, canaries, timeline } = setup();
    const metric = { name: 'success-rate' as const, min: 90, minRequests: 20 };
    // Proxyless clients only (LRS): the stats sink has nothing for v2.
    telemetry.recordVersion('lrs', host, 'v2', 40, 0);
    const canary = { namespace: 'shop', name: 'orders', spec: { service: 'orders', stable: 'v1', canary: 'v2', steps: [50], metrics: [metric] }, origin: { file: 'canary.yaml' } } as unknown as Canary;
    const analysis = await analyse(canary, 1000, { telemetry });
    expect(analysis.results[0]).toMatchObject({ source: 'any', outcome: 'pass', value: 100, requests: 40 });
    const bound = metricBound(metric);
    expect(bound).toEqual({ name: 'success-rate', source: 'any', min: 90, unit: '%' });
    expect(bound.source).toBe(analysis.results[0]!.source);
    canaries.push(view({ lastAnalysis: analysis }));
    timeline.sample();
    expect(timeline.canaryTimeline('shop', 'orders')!.metrics['success-rate']!.value).toEqual([100]);
    // An explicit source stays as written.
    expect(metricBound({ ...metric, source: 'statsSink' }).source).toBe('statsSink');
    expect(metricBound({ name: 'latency-p99', maxMs: 250 }).source).toBe('any');
  });

  it('keeps at most maxPoints samples per series and maxDecisions per canary', () => {
    const { canaries, timeline, advance } = setup({ maxPoints: 5, maxDecisions: 3 });
    canaries.push(view());
    for (let i = 0; i < 8; i++) {
      canaries[0] = view({ canaryWeight: 20 + i, message: `step ${i}` });
      timeline.sample();
      advance(1000);
    }
    expect(timeline.serviceSeries(host)!.t).toHaveLength(5);
    expect(timeline.serviceSeries(host)!.versions.v1!.rps).toHaveLength(5);
    const history = timeline.canaryTimeline('shop', 'orders')!;
    expect(history.weight).toEqual([23, 24, 25, 26, 27]);
    expect(history.decisions.map((d) => d.reason)).toEqual(['step 5', 'step 6', 'step 7']);
  });

  it('records a decision only when something moved, each metric once per analysis, and answers `since` with what came after', () => {
    const { canaries, timeline, advance } = setup();
    const analysis = { verdict: { kind: 'pass' as const, message: 'ok' }, results: [{ metric: 'success-rate', source: 'lrs', outcome: 'pass' as const, value: 99.5, message: 'ok' }], at: new Date(0).toISOString() };
    canaries.push(view({ lastAnalysis: analysis }));
    timeline.sample();
    const first = timeline.lastSample;
    advance(1000);
    timeline.sample(); // nothing moved, same analysis
    advance(1000);
    canaries[0] = view({ phase: 'Progressing', canaryWeight: 50, stepIndex: 1, message: 'checks passed; canary weight 50%', lastAnalysis: { ...analysis, at: new Date(1).toISOString(), results: [{ ...analysis.results[0]!, value: 98 }] } });
    timeline.sample();
    const all = timeline.canaryTimeline('shop', 'orders')!;
    expect(all.decisions.map((d) => [d.weight, d.reason])).toEqual([[20, 'weight 20%'], [50, 'checks passed; canary weight 50%']]);
    expect(all.metrics['success-rate']!.value).toEqual([99.5, 98]);
    const later = timeline.canaryTimeline('shop', 'orders', first)!;
    expect(later.weight).toEqual([20, 50]);
    expect(later.decisions).toHaveLength(1);
    expect(later.metrics['success-rate']!.value).toEqual([98]);
    expect(timeline.serviceSeries(host, first)!.t).toHaveLength(2);
  });

  it('forgets a canary that is no longer served', () => {
    const { canaries, timeline } = setup();
    canaries.push(view());
    timeline.sample();
    canaries.pop();
    timeline.sample();
    expect(timeline.canaryTimeline('shop', 'orders')).toBeUndefined();
  });

  it('samples a large mesh round robin within its time budget', () => {
    const snapshot = snapshotOf(meshFiles({ services: 3, versions: 2, endpointsPerVersion: 1, namespaces: 1 }));
    const hosts = [...snapshot.services.keys()];
    let now = 1_000_000;
    const timeline = new ConsoleTimeline({ snapshot: () => snapshot, telemetry: new TelemetryStore({ now: () => now }), canaries: () => [] }, logger, { now: () => now, serviceBudgetMs: 0 });
    const sampled = () => hosts.map((h) => timeline.serviceSeries(h)?.t.length ?? 0);
    timeline.sample();
    expect(sampled()).toEqual([1, 0, 0]);
    now += 1000;
    timeline.sample();
    now += 1000;
    timeline.sample();
    expect(sampled()).toEqual([1, 1, 1]);
    now += 1000;
    timeline.sample();
    expect(sampled()).toEqual([2, 1, 1]);
  });

  it('keeps fewer samples per service when the mesh is large, so all services together stay under maxServiceValues', () => {
    const snapshot = snapshotOf(meshFiles({ services: 10, versions: 2, endpointsPerVersion: 1, namespaces: 1 }));
    let now = 1_000_000;
    // 10 services × (1 time + 3 values × 2 versions) = 70 values a sample: 4,900 values keep 70 samples each, not 100.
    const timeline = new ConsoleTimeline({ snapshot: () => snapshot, telemetry: new TelemetryStore({ now: () => now }), canaries: () => [] }, logger, { now: () => now, maxPoints: 100, maxServiceValues: 4900 });
    for (let i = 0; i < 120; i++) {
      timeline.sample();
      now += 1000;
    }
    for (const host of snapshot.services.keys()) expect(timeline.serviceSeries(host)!.t).toHaveLength(70);
  });

  it('refuses settings that would not bound it', () => {
    expect(() => new ConsoleTimeline({ snapshot: () => undefined, telemetry: new TelemetryStore(), canaries: () => [] }, logger, { maxPoints: 0 })).toThrow(TimelineError);
  });

  it('long-polling waits for the next sample, and returns at once when stopped', async () => {
    const { timeline } = setup();
    timeline.start();
    const before = timeline.lastSample;
    const waiting = timeline.nextSample(60_000);
    timeline.sample();
    await waiting;
    expect(timeline.lastSample).toBeGreaterThan(before);
    timeline.stop();
    await timeline.nextSample(60_000);
  });
});

describe('console state', () => {
  it('lists proxies in trouble first, at most MAX_PROXY_ROWS, and counts them all', () => {
    const { store, timeline } = setup();
    const row = (i: number, status: string) => ({ nodeId: `p-${String(i).padStart(4, '0')}`, types: { clusters: { status: 'SYNCED' }, listeners: { status } } });
    const rows = [...Array.from({ length: 250 }, (_, i) => row(i, 'SYNCED')), row(250, 'STALE'), row(251, 'NACKED')];
    const state = buildConsoleState({ snapshot: () => store.current, servedVersion: () => undefined, canaries: () => [], proxies: () => rows }, timeline);
    expect(state.proxies).toHaveLength(MAX_PROXY_ROWS);
    expect(state.proxies.slice(0, 3).map((p) => p.nodeId)).toEqual(['p-0251', 'p-0250', 'p-0000']);
    expect(state.proxyCounts).toEqual({ total: 252, nacked: 1, stale: 1, synced: 250 });
  });

  it('shows the served routes: a canary override\'s live split, matches in words', () => {
    const { store, timeline } = setup();
    store.setOverrides('canary', [
      {
        kind: 'routes',
        service: host,
        routes: [
          { name: 'canary-cohort', match: { ...matchEverything, userId: { source: { kind: 'header', name: 'x-user-id' }, match: { kind: 'oneOf', values: ['u-1', 'u-2'] } } }, destinations: [{ version: 'v2', weight: 100 }] },
          { name: 'canary-split', match: matchEverything, destinations: [{ version: 'v1', weight: 70 }, { version: 'v2', weight: 30 }] },
        ],
      },
    ]);
    timeline.sample();
    const state = buildConsoleState({ snapshot: () => store.current, servedVersion: () => 'v-served', canaries: () => [], proxies: () => [] }, timeline, 0, 'all');
    const orders = state.services.find((s) => s.host === host)!;
    expect(orders.routes).toEqual([
      { name: 'canary-cohort', match: 'user ID (header x-user-id) in [u-1, u-2]', to: [{ version: 'v2', weight: 100 }] },
      { name: 'canary-split', to: [{ version: 'v1', weight: 70 }, { version: 'v2', weight: 30 }] },
    ]);
    expect(orders.versions.map((v) => [v.name, v.endpoints])).toEqual([['v1', 1], ['v2', 1]]);
    expect(state).toMatchObject({ full: true, served: 'v-served', snapshot: store.current!.version });
    // Series only for the services asked for (and those with a canary): they are the bulk of the document.
    const sources = { snapshot: () => store.current, servedVersion: () => undefined, canaries: () => [], proxies: () => [] };
    expect(buildConsoleState(sources, timeline, 0, new Set()).services.find((x) => x.host === host)!.series).toBeUndefined();
    expect(buildConsoleState(sources, timeline, 0, new Set([host])).services.find((x) => x.host === host)!.series!.t).toHaveLength(1);
    expect(buildConsoleState(sources, timeline, 0, 'all').services.find((x) => x.host === host)!.series).toBeDefined();
    expect(describeMatch({ path: { kind: 'prefix', value: '/api' }, headers: [{ name: 'x-debug', kind: 'present', present: true }] })).toBe('header x-debug present and path starts with /api');
  });
});
