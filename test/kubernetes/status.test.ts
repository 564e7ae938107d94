/**
 * Per-object last-good semantics and status write-back: an invalid object is
 * reported on its status and in an Event while its last good version keeps
 * serving, and the rest of the mesh keeps updating.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindByName } from '../../control-plane/sources/kubernetes-informers.js';
import { StatusWriter } from '../../control-plane/sources/kubernetes.js';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import {
  acceptedOf, canary, endpointSlice, routeWeights, seedOrders, service, silent, startFakeCluster, startSource, trafficPolicy, versionEndpoints, waitFor, sleep, ordersHost, type RunningSource,
} from './helpers.js';

const events = (fake: FakeKubeApiServer, name: string) => fake.list('v1', 'Event', 'shop').filter((e) => (e.involvedObject as { name: string }).name === name);
const statusWrites = (fake: FakeKubeApiServer) => fake.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status'));

describe('Kubernetes source: per-object last good', () => {
  let fake: FakeKubeApiServer;
  let run: RunningSource;
  const current = () => run.store.current!;

  beforeEach(async () => {
    fake = await startFakeCluster();
    seedOrders(fake);
    run = await startSource(fake);
    await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'True', 5_000, 'initial Accepted');
  });
  afterEach(async () => {
    await run.stop();
    await fake.close();
  });

  it('an invalid edit gets Accepted=False and an Event; the old version keeps serving while the rest of the mesh updates', async () => {
    // Valid for the CRD schema (the API server stores it), invalid for Sluice: weights sum to 90.
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 80, v2: 10 }));
    const condition = await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'False' && acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders'), 5_000, 'Accepted=False');
    expect(condition.reason).toBe('WeightsSum');
    expect(condition.message).toContain('spec.routes[0].to: weights must sum to 100, got 90');
    expect(condition.message).toContain('still serving the last accepted version (generation 1)');
    // observedGeneration stays at the version the status describes as served.
    expect((fake.get('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders')!.status as { observedGeneration: number }).observedGeneration).toBe(1);
    expect(routeWeights(current())).toEqual([['v1', 90], ['v2', 10]]);

    const event = await waitFor(() => events(fake, 'orders')[0], 5_000, 'Event');
    expect(event).toMatchObject({ type: 'Warning', reason: 'WeightsSum', involvedObject: { kind: 'TrafficPolicy', namespace: 'shop', name: 'orders', apiVersion: 'sluice.dev/v1alpha1' }, source: { component: 'sluice' } });
    expect(event.message).toContain('weights must sum to 100');

    // The rest of the mesh keeps moving.
    fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0'], ['10.0.0.3', 'orders-v2-0']]));
    fake.apply(service('shop', 'cart'));
    await waitFor(() => versionEndpoints(current()).v1?.join() === '10.0.0.1' && current().services.has('cart.shop.svc.cluster.local'), 5_000, 'other changes');
    expect(routeWeights(current())).toEqual([['v1', 90], ['v2', 10]]);

    // Fixing it serves the fix and flips the condition.
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 70, v2: 30 }));
    await waitFor(() => routeWeights(current())?.[0]?.[1] === 70, 5_000, 'fixed policy served');
    const fixed = await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'True' && acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders'), 5_000, 'Accepted=True');
    expect(fixed.observedGeneration).toBe(3);
    expect(events(fake, 'orders')).toHaveLength(1); // one Event per rejected version, not per evaluation
  });

  it('a policy that was never valid is left out (the service is served without a policy)', async () => {
    fake.apply(service('shop', 'cart'));
    fake.apply({ ...trafficPolicy('shop', 'cart', 'cart', { v1: 100 }), spec: { service: 'cart', versions: { v1: { labels: { version: 'v1' } } }, routes: [{ name: 'all', to: [{ version: 'v9', weight: 100 }] }] } });
    const condition = await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'cart'), 5_000, 'cart condition');
    expect(condition).toMatchObject({ status: 'False', reason: 'UnknownVersion' });
    expect(condition.message).toContain('spec.routes[0].to[0].version: version "v9" is not in spec.versions (v1)');
    expect(condition.message).toContain('not served');
    expect(current().services.get('cart.shop.svc.cluster.local')!.traffic).toBeUndefined();
    expect(routeWeights(current())).toEqual([['v1', 90], ['v2', 10]]);
  });

  it('a second policy for the same service is refused, and the first keeps serving', async () => {
    fake.apply(trafficPolicy('shop', 'aaa-orders', 'orders', { v1: 10, v2: 90 }));
    const condition = await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'aaa-orders'), 5_000, 'condition');
    // The newcomer sorts first, yet the one already serving is kept.
    expect(condition).toMatchObject({ status: 'False', reason: 'DuplicatePolicy' });
    expect(routeWeights(current())).toEqual([['v1', 90], ['v2', 10]]);
    expect(acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status).toBe('True');
  });

  it('a policy edit that would break a running canary is refused; the canary and the old policy stay', async () => {
    fake.apply(canary('shop', 'orders-v2', 'orders', 'v1', 'v2'));
    await waitFor(() => current().canaries.find((c) => c.spec.service === 'orders'), 5_000, 'canary');
    // Drops version v2, which the canary releases.
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 100 }));
    const condition = await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'False' && acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders'), 5_000, 'policy refused');
    expect(condition.message).toContain('version "v2" is not in TrafficPolicy shop/orders');
    expect(current().canaries.find((c) => c.spec.service === 'orders')?.spec.canary).toBe('v2');
    expect(routeWeights(current())).toEqual([['v1', 90], ['v2', 10]]);
    expect(acceptedOf(fake, 'Canary', 'shop', 'orders-v2')?.status).toBe('True');
  });

  it('deleting the Service takes its policy out of service, and recreating it brings the policy back', async () => {
    fake.delete('v1', 'Service', 'shop', 'orders');
    await waitFor(() => !current().services.has(ordersHost), 5_000, 'service gone');
    const condition = await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'False' && acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders'), 5_000, 'policy refused');
    expect(condition.reason).toBe('UnknownService');
    expect(current().trafficPolicies).toEqual([]);
    fake.apply(service('shop', 'orders'));
    await waitFor(() => current().services.get(ordersHost)?.traffic, 5_000, 'policy back');
    await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'True', 5_000, 'Accepted again');
  });

  it('writes status only when it changes (no write loop on its own updates)', async () => {
    await sleep(300);
    const writes = statusWrites(fake).length;
    fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0']]));
    await waitFor(() => versionEndpoints(current()).v1?.join() === '10.0.0.1', 5_000, 'endpoint change');
    await sleep(300);
    expect(statusWrites(fake).length).toBe(writes);
    expect(writes).toBe(1);
  });

  it('restores a status someone else overwrote', async () => {
    fake.applyStatus({ ...fake.get('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders')!, status: { conditions: [{ type: 'Accepted', status: 'Unknown', reason: 'Edited' }] } });
    await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'True', 5_000, 'status restored');
  });
});

describe('Kubernetes source: status is written only by the leader', () => {
  it('a follower writes nothing; on becoming leader it catches up', async () => {
    const fake = await startFakeCluster();
    seedOrders(fake);
    fake.apply(trafficPolicy('shop', 'broken', 'orders', { v1: 50 }));
    let leading = false;
    const listeners = new Set<() => void>();
    const run = await startSource(fake, { leader: { isLeader: () => leading, onStartedLeading: (l) => { listeners.add(l); return () => listeners.delete(l); } } });
    try {
      await sleep(300);
      expect(statusWrites(fake)).toHaveLength(0);
      expect(fake.list('v1', 'Event')).toHaveLength(0);
      expect(routeWeights(run.store.current)).toEqual([['v1', 90], ['v2', 10]]); // serving does not depend on leading
      leading = true;
      for (const listener of listeners) listener();
      await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.status === 'True', 5_000, 'leader writes');
      await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'broken')?.status === 'False', 5_000, 'leader writes rejection');
      await waitFor(() => events(fake, 'broken').length === 1, 5_000, 'event');
    } finally {
      await run.stop();
      await fake.close();
    }
  });
});

describe('StatusWriter', () => {
  let fake: FakeKubeApiServer;
  let writer: StatusWriter;
  let leader = true;
  beforeEach(async () => {
    fake = await startFakeCluster();
    seedOrders(fake);
    fake.apply(canary('shop', 'orders-v2', 'orders', 'v1', 'v2'));
    leader = true;
    writer = new StatusWriter({ config: fake.kubeConfig(), logger: silent, isLeader: () => leader, identity: 'test' });
  });
  afterEach(() => fake.close());

  it('redoes a write that met 409 Conflict on the fresh object, keeping the other writer\'s change', async () => {
    const stale = fake.get('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders')!;
    // Someone else writes a condition of their own after we read.
    fake.applyStatus({ ...stale, status: { conditions: [{ type: 'Audited', status: 'True', reason: 'Reviewed' }] } });
    const outcome = await writer.writeAccepted(kindByName.get('TrafficPolicy')!, 'shop', 'orders', { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', observedGeneration: 1 }, 1, stale as never);
    expect(outcome).toBe('written');
    const writes = fake.requests.filter((r) => r.path.endsWith('/trafficpolicies/orders/status'));
    expect(writes.map((r) => `${r.method} ${r.status}`)).toEqual(['PATCH 409', 'GET 200', 'PATCH 200']);
    expect(writes[0]!.contentType).toBe('application/merge-patch+json');
    const status = fake.get('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders')!.status as { conditions: Array<{ type: string }>; observedGeneration: number };
    expect(status.conditions.map((c) => c.type)).toEqual(['Audited', 'Accepted']);
    expect(status.observedGeneration).toBe(1);
  });

  it('writeCanaryStatus: progress through the status subresource, conditions merged by type, spec untouched', async () => {
    await writer.writeAccepted(kindByName.get('Canary')!, 'shop', 'orders-v2', { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok' }, 1);
    const before = fake.get('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders-v2')!;
    expect(await writer.writeCanaryStatus('shop', 'orders-v2', { phase: 'Progressing', canaryWeight: 10, stepIndex: 0, failedChecks: 0, canaryVersion: 'v2', message: 'step 1 of 2', conditions: [{ type: 'Progressing', status: 'True', reason: 'StepPassed' }] })).toBe('written');
    const after = fake.get('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders-v2')!;
    expect(after.status).toMatchObject({ phase: 'Progressing', canaryWeight: 10, failedChecks: 0, message: 'step 1 of 2' });
    expect((after.status as { conditions: Array<{ type: string; lastTransitionTime: string }> }).conditions.map((c) => c.type)).toEqual(['Accepted', 'Progressing']);
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata.generation).toBe(before.metadata.generation); // status writes never bump generation
    // Same progress again: nothing to write.
    expect(await writer.writeCanaryStatus('shop', 'orders-v2', { phase: 'Progressing', canaryWeight: 10 })).toBe('unchanged');
    leader = false;
    expect(await writer.writeCanaryStatus('shop', 'orders-v2', { phase: 'Failed' })).toBe('not-leader');
    expect(await writer.writeCanaryStatus('shop', 'missing', { phase: 'Failed' }).catch((e) => e)).toBe('not-leader');
    leader = true;
    expect(await writer.writeCanaryStatus('shop', 'missing', { phase: 'Failed' })).toBe('gone');
  });

  it('the status subresource never changes the spec, even when the patch carries one', async () => {
    const { CustomObjectsApi, PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
    const api = fake.kubeConfig().makeApiClient(CustomObjectsApi);
    await api.patchNamespacedCustomObjectStatus(
      { group: 'sluice.dev', version: 'v1alpha1', plural: 'trafficpolicies', namespace: 'shop', name: 'orders', body: [{ op: 'add', path: '/status', value: { observedGeneration: 1 } }, { op: 'replace', path: '/spec/service', value: 'nope' }] },
    );
    const stored = fake.get('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders')!;
    expect((stored.spec as { service: string }).service).toBe('orders');
    expect(stored.status).toEqual({ observedGeneration: 1 });
    // And strategic merge patch is refused for custom resources, as the real API server does.
    const refused = await api.patchNamespacedCustomObjectStatus({ group: 'sluice.dev', version: 'v1alpha1', plural: 'trafficpolicies', namespace: 'shop', name: 'orders', body: { status: {} } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)).catch((e: { code: number }) => e.code);
    expect(refused).toBe(415);
  });
});
