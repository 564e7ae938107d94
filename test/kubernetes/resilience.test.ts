/**
 * What a controller must survive on a real cluster: watches cut mid-stream,
 * compacted history (410 Gone), API errors, quiet resources kept current by
 * bookmarks, and an API server that does not serve our CRDs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubernetesApiError } from '../../control-plane/sources/kubernetes.js';
import { watchedKinds } from '../../control-plane/sources/kubernetes-informers.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import {
  acceptedOf, endpointSlice, pod, routeWeights, seedOrders, silent, startFakeCluster, startSource, trafficPolicy, versionEndpoints, waitFor, type RunningSource,
} from './helpers.js';
import { kubernetesSource as createKubernetesSource } from '../../control-plane/pipeline/kubernetes-source.js';

// The fake API server serves no Gateway API CRDs, and TLS Secrets are opt-in: optional kinds open no watch here.
const requiredKinds = watchedKinds.filter((kind) => !kind.optional).length;

const lists = (fake: FakeKubeApiServer, path: string) => fake.requests.filter((r) => r.method === 'GET' && r.path === path && !r.query.watch).length;
const watches = (fake: FakeKubeApiServer, path: string) => fake.requests.filter((r) => r.path === path && r.query.watch === 'true');

describe('Kubernetes source: resilience', () => {
  let fake: FakeKubeApiServer;
  let run: RunningSource | undefined;

  beforeEach(async () => {
    fake = await startFakeCluster({ bookmarkIntervalMs: 50 });
    seedOrders(fake);
  });
  afterEach(async () => {
    await run?.stop();
    run = undefined;
    await fake.close();
  });

  it('a watch cut mid-stream resumes from the last resourceVersion and loses no event', async () => {
    run = await startSource(fake);
    const slicePath = '/apis/discovery.k8s.io/v1/endpointslices';
    await waitFor(() => fake.activeWatches === requiredKinds, 5_000, `all watches open (${fake.activeWatches} of ${requiredKinds})`);
    const listsBefore = lists(fake, slicePath);
    const lastSeen = fake.resourceVersion;
    expect(fake.dropWatches()).toBe(requiredKinds);
    // These happen while every client is disconnected: only history replay can deliver them.
    fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0'], ['10.0.0.7', 'orders-v2-0']]));
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 20, v2: 80 }));
    fake.delete('v1', 'Pod', 'shop', 'orders-v1-1');
    await waitFor(() => versionEndpoints(run!.store.current).v2?.[0] === '10.0.0.7' && routeWeights(run!.store.current)?.[1]?.[1] === 80, 5_000, 'changes made while disconnected');
    expect(versionEndpoints(run.store.current)).toEqual({ v1: ['10.0.0.1'], v2: ['10.0.0.7'] });
    // Resumed, not re-listed: the next watch starts at (or after, thanks to bookmarks) what the client had seen.
    const resumed = watches(fake, slicePath).at(-1)!;
    expect(Number(resumed.query.resourceVersion)).toBeLessThanOrEqual(Number(lastSeen));
    expect(Number(resumed.query.resourceVersion)).toBeGreaterThan(1000);
    expect(lists(fake, slicePath)).toBe(listsBefore);
  });

  it('410 Gone (compacted history) forces a re-list, which also notices deletions missed meanwhile', async () => {
    run = await startSource(fake);
    await waitFor(() => fake.activeWatches === requiredKinds, 5_000, `all watches open (${fake.activeWatches} of ${requiredKinds})`);
    const podListsBefore = lists(fake, '/api/v1/pods');
    fake.dropWatches();
    // Changed while disconnected, then history compacted: resuming from the old resourceVersion is impossible.
    fake.delete('v1', 'Pod', 'shop', 'orders-v2-0');
    fake.apply(pod('shop', 'orders-v1-1', { app: 'orders', version: 'v2' }));
    fake.compact();
    await waitFor(() => versionEndpoints(run!.store.current).v2?.join() === '10.0.0.2', 5_000, 'state after re-list');
    expect(versionEndpoints(run.store.current)).toEqual({ v1: ['10.0.0.1'], v2: ['10.0.0.2'] });
    expect(lists(fake, '/api/v1/pods')).toBeGreaterThan(podListsBefore);
    // The failed resume really was answered with 410 inside the stream, then a fresh list and watch followed.
    const podWatches = watches(fake, '/api/v1/pods');
    expect(podWatches.length).toBeGreaterThanOrEqual(3);
  });

  it('an ERROR 410 event on a live watch (watch cache expired) re-lists without any disconnect by the client', async () => {
    run = await startSource(fake);
    await waitFor(() => fake.activeWatches === requiredKinds, 5_000, `all watches open (${fake.activeWatches} of ${requiredKinds})`);
    const before = lists(fake, '/apis/sluice.dev/v1alpha1/trafficpolicies');
    fake.compact();
    await waitFor(() => lists(fake, '/apis/sluice.dev/v1alpha1/trafficpolicies') > before, 5_000, 're-list');
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 70, v2: 30 }));
    await waitFor(() => routeWeights(run!.store.current)?.[0]?.[1] === 70, 5_000, 'change after re-list');
  });

  it('bookmarks advance a quiet resource, so its resumed watch starts at the bookmark', async () => {
    run = await startSource(fake);
    const canaries = '/apis/sluice.dev/v1alpha1/canaries';
    const listedAt = Number(watches(fake, canaries)[0]!.query.resourceVersion);
    await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders'), 5_000, 'status written');
    // Activity elsewhere moves the cluster's resourceVersion; canaries see only bookmarks.
    for (let i = 0; i < 5; i++) fake.apply(pod('shop', `noise-${i}`, { app: 'noise' }));
    await new Promise((resolve) => setTimeout(resolve, 200)); // a few bookmark intervals
    const after = Number(fake.resourceVersion);
    fake.dropWatches((typeKey) => typeKey.endsWith('/canaries'));
    await waitFor(() => watches(fake, canaries).length === 2, 5_000, 'canary watch resumed');
    expect(Number(watches(fake, canaries)[1]!.query.resourceVersion)).toBe(after);
    expect(after).toBeGreaterThan(listedAt);
  });

  it('retries a failing list with back-off instead of giving up', async () => {
    fake.failRequests((r) => r.path === '/apis/sluice.dev/v1alpha1/trafficpolicies' && !r.query.watch, 500, 3);
    run = await startSource(fake);
    expect(fake.requests.filter((r) => r.path === '/apis/sluice.dev/v1alpha1/trafficpolicies' && r.status === 500)).toHaveLength(3);
    expect(routeWeights(run.store.current)).toEqual([['v1', 90], ['v2', 10]]);
  });

  it('retries a failing watch and catches up', async () => {
    run = await startSource(fake);
    await waitFor(() => fake.activeWatches === requiredKinds, 5_000, `all watches open (${fake.activeWatches} of ${requiredKinds})`);
    fake.failRequests((r) => r.path === '/apis/discovery.k8s.io/v1/endpointslices' && r.query.watch === 'true', 503, 2);
    fake.dropWatches((typeKey) => typeKey.endsWith('/endpointslices'));
    fake.apply(endpointSlice('shop', 'orders', [['10.0.0.9', 'orders-v1-0']]));
    await waitFor(() => versionEndpoints(run!.store.current).v1?.join() === '10.0.0.9', 5_000, 'caught up');
    expect(fake.requests.filter((r) => r.path === '/apis/discovery.k8s.io/v1/endpointslices' && r.status === 503)).toHaveLength(2);
  });

  it('start() fails with a typed error naming what could not be listed when the CRDs are missing', async () => {
    const bare = await FakeKubeApiServer.start(); // no CRDs
    try {
      const source = createKubernetesSource({ kubeconfig: await bare.writeKubeconfig(), logger: silent, syncTimeoutMs: 400, backoff: { initialMs: 20, maxMs: 100 } });
      const error = await source.start(() => undefined).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(KubernetesApiError);
      expect((error as Error).message).toMatch(/trafficpolicies\.sluice\.dev: HTTP 404/);
      expect((error as Error).message).toMatch(/CRDs/);
    } finally {
      await bare.close();
    }
  });
});
