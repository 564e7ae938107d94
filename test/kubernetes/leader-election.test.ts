/**
 * Leader election over a coordination.k8s.io/v1 Lease between real electors
 * (short lease durations): one leader at a time, a graceful hand-over on stop,
 * a forced one when the leader loses the API server, and status writes that
 * follow the leadership.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaderElector, LeaderElectionError } from '../../control-plane/sources/leader-election.js';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { acceptedOf, seedOrders, silent, startFakeCluster, startSource, trafficPolicy, waitFor } from './helpers.js';

const timing = { leaseDurationMs: 1_000, renewDeadlineMs: 600, retryPeriodMs: 100 };

function elector(fake: FakeKubeApiServer, user: string, timings: typeof timing = timing): LeaderElector {
  return new LeaderElector({ kubeconfig: fake.kubeConfig(user), namespace: 'sluice-system', identity: user, logger: silent, ...timings });
}

function track(e: LeaderElector): string[] {
  const log: string[] = [];
  e.onStartedLeading(() => log.push('started'));
  e.onStoppedLeading(() => log.push('stopped'));
  return log;
}

const lease = (fake: FakeKubeApiServer) => fake.get('coordination.k8s.io/v1', 'Lease', 'sluice-system', 'sluice-leader')?.spec as { holderIdentity: string; leaseTransitions: number; renewTime: string; leaseDurationSeconds: number } | undefined;

describe('LeaderElector', () => {
  let fake: FakeKubeApiServer;
  const electors: LeaderElector[] = [];
  beforeEach(async () => {
    fake = await startFakeCluster();
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
    await fake.close();
  });

  it('one of two candidates leads; stop() hands over at once', async () => {
    // A long lease, so "b took over well before it expired" proves the release, even on a loaded machine.
    const slow = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 100 };
    const a = elector(fake, 'replica-a', slow);
    const b = elector(fake, 'replica-b', slow);
    electors.push(a, b);
    const logA = track(a);
    const logB = track(b);
    a.start();
    await waitFor(() => a.isLeader(), 3_000, 'a leads');
    b.start();
    // a keeps renewing: its renewTime moves while b waits.
    const firstRenew = lease(fake)!.renewTime;
    await waitFor(() => lease(fake)!.renewTime !== firstRenew && b.leader === 'replica-a', 3_000, 'a renews while b watches');
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(lease(fake)).toMatchObject({ holderIdentity: 'replica-a', leaseDurationSeconds: 6 });
    expect(lease(fake)!.renewTime).toMatch(/\.\d{6}Z$/);

    const stoppedAt = Date.now();
    await a.stop();
    expect(a.isLeader()).toBe(false);
    await waitFor(() => b.isLeader(), 3_000, 'b takes over');
    // Released, so no need to wait out the 6 s lease.
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    expect(lease(fake)!.holderIdentity).toBe('replica-b');
    expect(lease(fake)!.leaseTransitions).toBeGreaterThanOrEqual(1);
    expect(logA).toEqual(['started', 'stopped']);
    expect(logB).toEqual(['started']);
  });

  it('a leader cut off from the API server steps down, and another takes over once the lease expires', async () => {
    const a = elector(fake, 'replica-a');
    const b = elector(fake, 'replica-b');
    electors.push(a, b);
    const logA = track(a);
    a.start();
    await waitFor(() => a.isLeader(), 3_000, 'a leads');
    b.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Every request of replica-a now fails, as if its node lost the network.
    fake.failRequests((r) => r.user === 'replica-a', 503, Number.POSITIVE_INFINITY);
    const cutAt = Date.now();
    await waitFor(() => !a.isLeader(), 3_000, 'a steps down');
    const steppedDownAfter = Date.now() - cutAt;
    await waitFor(() => b.isLeader(), 3_000, 'b takes over');
    const tookOverAfter = Date.now() - cutAt;
    // a gives up within its renew deadline, before b may take the lease: never two leaders.
    expect(steppedDownAfter).toBeLessThan(timing.leaseDurationMs);
    expect(tookOverAfter).toBeGreaterThanOrEqual(steppedDownAfter);
    expect(logA).toEqual(['started', 'stopped']);
    expect(lease(fake)!.holderIdentity).toBe('replica-b');
  });

  it('two candidates racing for a free lease: exactly one wins', async () => {
    const candidates = ['r1', 'r2', 'r3'].map((id) => elector(fake, id));
    electors.push(...candidates);
    for (const c of candidates) c.start();
    await waitFor(() => candidates.some((c) => c.isLeader()), 3_000, 'a leader');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(candidates.filter((c) => c.isLeader())).toHaveLength(1);
    expect(lease(fake)!.holderIdentity).toBe(candidates.find((c) => c.isLeader())!.identity);
  });

  it('refuses timings that could let two replicas lead at once', () => {
    expect(() => new LeaderElector({ kubeconfig: fake.kubeConfig(), logger: silent, leaseDurationMs: 1_000, renewDeadlineMs: 1_000, retryPeriodMs: 100 })).toThrow(LeaderElectionError);
  });

  it('status writes follow the leader: after a hand-over the new leader keeps objects\' status current', async () => {
    seedOrders(fake);
    const a = elector(fake, 'replica-a');
    const b = elector(fake, 'replica-b');
    electors.push(a, b);
    a.start();
    await waitFor(() => a.isLeader(), 3_000, 'a leads');
    b.start();
    const sourceA = await startSource(fake, { user: 'replica-a', leader: a });
    const sourceB = await startSource(fake, { user: 'replica-b', leader: b });
    try {
      await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'True', 5_000, 'Accepted');
      const writers = () => new Set(fake.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status')).map((r) => r.user));
      expect(writers()).toEqual(new Set(['replica-a']));

      await a.stop();
      await waitFor(() => b.isLeader(), 3_000, 'b leads');
      fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 60, v2: 30 }));
      await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'False', 5_000, 'rejection written');
      expect([...writers()].sort()).toEqual(['replica-a', 'replica-b']);
      // The Event is written after the condition, not with it: wait for it before asking who wrote it.
      const eventAuthors = () => fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/events')).map((r) => r.user);
      await waitFor(() => eventAuthors().length > 0, 5_000, 'rejection event');
      expect(eventAuthors()).toEqual(['replica-b']);
    } finally {
      await sourceA.stop();
      await sourceB.stop();
    }
  });
});
