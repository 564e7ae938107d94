/**
 * Another replica's per-version slots summed into the leader's windows:
 * sends replace (never add), only local series are exported (no echo),
 * a different slot width is refused, and a body is checked field by field.
 */
import { describe, expect, it } from 'vitest';
import { TelemetryStore } from '../../control-plane/telemetry/telemetry-store.js';
import { parseSharedWindows } from '../../control-plane/telemetry/telemetry-sharing.js';

const host = 'orders.shop.svc.cluster.local';

describe('replica telemetry windows', () => {
  it('sums a follower\'s slots into the window; a repeated send replaces them', () => {
    let now = 100_000;
    const leader = new TelemetryStore({ now: () => now });
    const follower = new TelemetryStore({ now: () => now });
    leader.recordVersion('statsSink', host, 'v2', 10, 0);
    follower.recordVersion('statsSink', host, 'v2', 30, 2, { boundsMs: [5, 10], counts: [32, 0, 0] });
    const sent = follower.exportSlots(follower.currentEpoch() - 5);
    leader.importPeer('replica-b', sent);
    leader.importPeer('replica-b', sent);
    const window = leader.versionWindow('statsSink', host, 'v2', 5_000);
    expect(window).toMatchObject({ requests: 42, successes: 40, errors: 2, latencySamples: 32 });
    // The follower's later count for the same slot replaces the earlier one.
    follower.recordVersion('statsSink', host, 'v2', 8, 0);
    leader.importPeer('replica-b', follower.exportSlots(follower.currentEpoch()));
    expect(leader.versionWindow('statsSink', host, 'v2', 5_000).requests).toBe(50);
    // What the leader exports is its own traffic only.
    expect(leader.exportSlots(0).series.map((s) => s.slots.map((slot) => slot.successes))).toEqual([[10]]);
    // A replica not heard from for the retention is no longer counted.
    now += 11 * 60_000;
    leader.recordVersion('statsSink', host, 'v2', 1, 0);
    expect(leader.versionWindow('statsSink', host, 'v2', 5_000).requests).toBe(1);
    expect(leader.peers().map((p) => p.peer)).toEqual(['replica-b']);
  });

  it('endpoints too: mesh-wide ejection judges on every replica\'s proxies; a forgotten endpoint starts afresh everywhere', () => {
    const now = 200_000;
    const leader = new TelemetryStore({ now: () => now });
    const follower = new TelemetryStore({ now: () => now });
    leader.recordEndpoint('statsSink', host, '10.0.0.7:8080', 5, 5);
    follower.recordEndpoint('statsSink', host, '10.0.0.7:8080', 0, 20);
    follower.recordEndpoint('lrs', 'catalog.shop.svc.cluster.local', '10.0.0.9:9090', 4, 0);
    leader.importPeer('replica-b', follower.exportSlots(follower.currentEpoch() - 2));
    expect(leader.endpointWindows(host, 5_000).get('10.0.0.7:8080')).toMatchObject({ requests: 30, errors: 25 });
    expect([...leader.endpointHosts(5_000)].sort()).toEqual(['catalog.shop.svc.cluster.local', host]);
    leader.forgetEndpoint(host, '10.0.0.7:8080');
    expect(leader.endpointWindows(host, 5_000).get('10.0.0.7:8080')).toBeUndefined();
  });

  it('refuses another slot width, and bodies that are not shared windows', () => {
    const leader = new TelemetryStore({ slotMs: 1000 });
    expect(() => leader.importPeer('replica-b', { slotMs: 500, series: [] })).toThrow(/500 ms telemetry slots, this one 1000 ms/);
    expect(() => parseSharedWindows('{"slotMs":1000,"series":[{"source":"x","host":"h","version":"v","slots":[]}]}')).toThrow(/series\[0\]\.source/);
    expect(() => parseSharedWindows('{"slotMs":1000,"series":[{"source":"lrs","host":"h","version":"v","endpoint":"e","slots":[]}]}')).toThrow(/one of version or endpoint/);
    expect(() => parseSharedWindows('{"slotMs":1000,"series":[{"source":"lrs","host":"h","version":"v","slots":[{"epoch":1,"successes":-1,"errors":0}]}]}')).toThrow(/slots\[0\]\.successes/);
    expect(parseSharedWindows('{"slotMs":1000,"series":[{"source":"lrs","host":"h","version":"v","slots":[{"epoch":1,"successes":3,"errors":0,"latency":[[2,3]]}]}]}').series[0]!.slots[0]).toEqual({ epoch: 1, successes: 3, errors: 0, latency: [[2, 3]] });
  });
});
