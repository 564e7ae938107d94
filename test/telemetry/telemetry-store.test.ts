import { describe, expect, it } from 'vitest';
import { LATENCY_BOUNDS_MS, quantileFromBuckets, TelemetryStore } from '../../control-plane/telemetry/telemetry-store.js';

describe('telemetry store', () => {
  it('sums reports per version over a rolling window and forgets what falls out of it', () => {
    let now = 10_000;
    const store = new TelemetryStore({ slotMs: 100, retentionMs: 2000, now: () => now });
    store.recordVersion('lrs', 'orders.shop', 'v2', 90, 10);
    now += 250;
    store.recordVersion('lrs', 'orders.shop', 'v2', 45, 5);
    const window = store.versionWindow('lrs', 'orders.shop', 'v2', 1000);
    expect(window).toMatchObject({ requests: 150, errors: 15, successRate: 90 });
    expect(store.versionWindow('statsSink', 'orders.shop', 'v2', 1000).requests).toBe(0);
    now += 900;
    expect(store.versionWindow('lrs', 'orders.shop', 'v2', 1000).requests).toBe(50);
    now += 5000;
    expect(store.versionWindow('lrs', 'orders.shop', 'v2', 1000).requests).toBe(0);
  });

  it('computes p50/p99 from histograms, filing foreign buckets by their upper bound', () => {
    const store = new TelemetryStore({ slotMs: 100 });
    const counts = new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
    counts[LATENCY_BOUNDS_MS.indexOf(10)] = 98; // (5, 10]
    counts[LATENCY_BOUNDS_MS.indexOf(250)] = 2; // (100, 250]
    store.recordVersion('statsSink', 'h', 'v1', 100, 0, { boundsMs: LATENCY_BOUNDS_MS, counts });
    const stats = store.versionWindow('statsSink', 'h', 'v1', 1000);
    expect(stats.latencySamples).toBe(100);
    expect(stats.p50Ms).toBeGreaterThan(5);
    expect(stats.p50Ms).toBeLessThanOrEqual(10);
    expect(stats.p99Ms).toBeGreaterThan(100);
    expect(stats.p99Ms).toBeLessThanOrEqual(250);
    // A bucket bounded at 7 ms goes to ours bounded at 10 ms.
    store.recordVersion('statsSink', 'h', 'v3', 0, 0, { boundsMs: [7], counts: [4, 0] });
    expect(store.versionWindow('statsSink', 'h', 'v3', 1000).p99Ms).toBeLessThanOrEqual(10);
    expect(quantileFromBuckets([0, 0], 0.5)).toBeUndefined();
  });

  it('keeps memory bounded: series are capped whatever the number of reporters', () => {
    const store = new TelemetryStore({ slotMs: 1000, maxSeries: 100 });
    for (let proxy = 0; proxy < 5000; proxy++) store.recordEndpoint('lrs', 'h', `10.0.${proxy >> 8}.${proxy & 255}:80`, 1, 0);
    expect(store.seriesCount).toBe(100);
    expect(store.debugView().evictions).toBe(4900);
    // Reports from many proxies about the same version are one series.
    const shared = new TelemetryStore({ slotMs: 1000 });
    for (let proxy = 0; proxy < 5000; proxy++) shared.recordVersion('lrs', 'h', 'v1', 1, 0);
    expect(shared.seriesCount).toBe(1);
    expect(shared.versionWindow('lrs', 'h', 'v1', 5000).requests).toBe(5000);
  });
});
