/**
 * The Kubernetes source against a fake API server, with the real
 * @kubernetes/client-node: initial sync, and every watched kind changing the
 * snapshot the store publishes.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { evaluateLoad } from '../../control-plane/model/build.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { loadDirectory } from '../../control-plane/sources/yaml-directory.js';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import {
  acceptedOf, canary, endpointSlice, namespace, ordersHost, pod, readYamlDocuments, repoRoot, routeWeights, seedOrders, service,
  startFakeCluster, startSource, trafficPolicy, versionEndpoints, waitFor, workloadEntry, yamlFilesUnder, type RunningSource,
} from './helpers.js';

/** What a proxy's configuration depends on, without provenance (file positions, generations). */
function meshView(snapshot: Snapshot) {
  return {
    services: [...snapshot.services.values()].map((s) => ({
      host: s.host,
      ports: s.ports,
      selector: s.selector,
      endpoints: s.endpoints,
      versions: [...s.versions.values()],
      traffic: s.traffic ?? null,
    })),
    namespaces: [...snapshot.namespaces.values()],
    workloadEntries: snapshot.workloadEntries.map((w) => ({ name: `${w.namespace}/${w.name}`, spec: w.spec })),
    telemetry: snapshot.telemetry ? { mesh: snapshot.telemetry.mesh, namespaces: [...snapshot.telemetry.namespaces] } : null,
  };
}

describe('Kubernetes source: initial sync', () => {
  it('builds from the cluster the same mesh as from the same manifests on disk, and marks every object Accepted', async () => {
    const fake = await startFakeCluster();
    const served = new Set(['v1/Namespace', 'v1/Service', 'v1/Pod', 'discovery.k8s.io/v1/EndpointSlice', 'sluice.dev/v1alpha1/TrafficPolicy', 'sluice.dev/v1alpha1/Canary', 'sluice.dev/v1alpha1/WorkloadEntry', 'sluice.dev/v1alpha1/TelemetryConfig']);
    const ours: Array<[string, string, string]> = [];
    for (const file of await yamlFilesUnder(path.join(repoRoot, 'examples'))) {
      for (const doc of await readYamlDocuments(file)) {
        if (!served.has(`${doc.apiVersion}/${doc.kind}`)) continue;
        fake.apply(doc);
        if (doc.apiVersion.startsWith('sluice.dev/')) ours.push([doc.kind, doc.metadata.namespace ?? 'default', doc.metadata.name]);
      }
    }
    const fromDisk = evaluateLoad(await loadDirectory(path.join(repoRoot, 'examples')));
    if (!fromDisk.ok) throw new Error(`examples/ does not load: ${fromDisk.issues.map((i) => i.message).join('; ')}`);
    const run = await startSource(fake);
    try {
      expect(run.loads).toBe(1);
      expect(meshView(run.store.current!)).toEqual(meshView(fromDisk.snapshot));
      expect(ours.length).toBeGreaterThanOrEqual(5);
      await waitFor(() => ours.every(([kind, ns, name]) => acceptedOf(fake, kind, ns, name)?.status === 'True'), 5_000, 'Accepted=True on every object');
      for (const [kind, ns, name] of ours) {
        const object = fake.get('sluice.dev/v1alpha1', kind, ns, name)!;
        expect((object.status as { observedGeneration?: number }).observedGeneration).toBe(1);
      }
    } finally {
      await run.stop();
      await fake.close();
    }
  });

  it('lists in pages and watches from the list resourceVersion, asking for bookmarks', async () => {
    const fake = await startFakeCluster();
    seedOrders(fake);
    for (let i = 0; i < 7; i++) fake.apply(pod('shop', `extra-${i}`, { app: 'extra' }));
    const run = await startSource(fake, { pageSize: 3 });
    try {
      const podLists = fake.requests.filter((r) => r.path === '/api/v1/pods' && !r.query.watch);
      expect(podLists.length).toBe(4); // 10 pods, 3 a page
      expect(podLists.slice(1).every((r) => r.query.continue)).toBe(true);
      const podWatch = fake.requests.find((r) => r.path === '/api/v1/pods' && r.query.watch === 'true')!;
      expect(podWatch.query).toMatchObject({ allowWatchBookmarks: 'true', fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' });
      expect(Number(podWatch.query.resourceVersion)).toBeGreaterThan(1000);
      expect(versionEndpoints(run.store.current)).toEqual({ v1: ['10.0.0.1', '10.0.0.2'], v2: ['10.0.0.3'] });
    } finally {
      await run.stop();
      await fake.close();
    }
  });

  it('with a namespace filter, watches only those namespaces', async () => {
    const fake = await startFakeCluster();
    seedOrders(fake);
    fake.apply(namespace('ops'));
    fake.apply(service('ops', 'batch'));
    const run = await startSource(fake, { namespaces: ['shop'] });
    try {
      expect([...run.store.current!.services.keys()]).toEqual([ordersHost]);
      expect([...run.store.current!.namespaces.keys()]).toEqual(['shop']);
      expect(fake.requests.some((r) => r.path === '/api/v1/namespaces/shop/services')).toBe(true);
      expect(fake.requests.some((r) => r.path === '/api/v1/services')).toBe(false);
      fake.apply(service('ops', 'other'));
      fake.apply(service('shop', 'cart'));
      await waitFor(() => run.store.current!.services.has('cart.shop.svc.cluster.local'));
      expect(run.store.current!.services.has('other.ops.svc.cluster.local')).toBe(false);
    } finally {
      await run.stop();
      await fake.close();
    }
  });
});

describe('Kubernetes source: changes reach the snapshot', () => {
  let fake: FakeKubeApiServer;
  let run: RunningSource;
  const current = () => run.store.current!;

  beforeEach(async () => {
    fake = await startFakeCluster();
    seedOrders(fake);
    run = await startSource(fake);
  });
  afterEach(async () => {
    await run.stop();
    await fake.close();
  });

  it('EndpointSlice: add, update and delete endpoints', async () => {
    fake.apply(pod('shop', 'orders-v2-1', { app: 'orders', version: 'v2' }));
    fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0'], ['10.0.0.2', 'orders-v1-1'], ['10.0.0.3', 'orders-v2-0'], ['10.0.0.4', 'orders-v2-1']]));
    await waitFor(() => versionEndpoints(current()).v2?.length === 2, 5_000, 'new endpoint');
    expect(versionEndpoints(current())).toEqual({ v1: ['10.0.0.1', '10.0.0.2'], v2: ['10.0.0.3', '10.0.0.4'] });

    // A second slice for the same service adds to it.
    fake.apply(endpointSlice('shop', 'orders', [['10.0.1.9', 'orders-v1-0']], 8080, 'orders-zz999'));
    await waitFor(() => versionEndpoints(current()).v1?.includes('10.0.1.9'), 5_000, 'second slice');

    // Not ready endpoints stay in the snapshot, marked not ready.
    fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0', false]]));
    await waitFor(() => current().services.get(ordersHost)!.endpoints.find((e) => e.address === '10.0.0.1')?.ready === false, 5_000, 'not ready');
    expect(current().services.get(ordersHost)!.endpoints.map((e) => e.address)).toEqual(['10.0.0.1', '10.0.1.9']);

    fake.delete('discovery.k8s.io/v1', 'EndpointSlice', 'shop', 'orders-abc12');
    fake.delete('discovery.k8s.io/v1', 'EndpointSlice', 'shop', 'orders-zz999');
    await waitFor(() => current().services.get(ordersHost)!.endpoints.length === 0, 5_000, 'endpoints gone');
  });

  it('Pod: relabelling moves an endpoint between versions; a finished pod leaves the watch', async () => {
    fake.apply(pod('shop', 'orders-v1-1', { app: 'orders', version: 'v2' }));
    await waitFor(() => versionEndpoints(current()).v2?.length === 2, 5_000, 'relabelled pod');
    expect(versionEndpoints(current())).toEqual({ v1: ['10.0.0.1'], v2: ['10.0.0.2', '10.0.0.3'] });

    // status.phase=Succeeded falls outside the field selector: the API server sends DELETED.
    fake.apply(pod('shop', 'orders-v1-0', { app: 'orders', version: 'v1' }, 'Succeeded'));
    await waitFor(() => versionEndpoints(current()).v1?.length === 0, 5_000, 'finished pod dropped');
    fake.delete('v1', 'Pod', 'shop', 'orders-v2-0');
    await waitFor(() => versionEndpoints(current()).v2?.length === 1, 5_000, 'deleted pod');
  });

  it('Service: add, change ports, delete', async () => {
    fake.apply(service('shop', 'cart', 9090));
    await waitFor(() => current().services.get('cart.shop.svc.cluster.local'), 5_000, 'new service');
    fake.apply(service('shop', 'cart', 9091));
    await waitFor(() => current().services.get('cart.shop.svc.cluster.local')?.ports[0]?.port === 9091, 5_000, 'port change');
    fake.delete('v1', 'Service', 'shop', 'cart');
    await waitFor(() => !current().services.has('cart.shop.svc.cluster.local'), 5_000, 'service deleted');
  });

  it('Namespace: labels follow, deletion removes it', async () => {
    fake.apply(namespace('shop', { 'sluice.dev/inject': 'disabled' }));
    await waitFor(() => current().namespaces.get('shop')?.labels['sluice.dev/inject'] === 'disabled', 5_000, 'namespace labels');
    fake.apply(namespace('ops'));
    await waitFor(() => current().namespaces.has('ops'), 5_000, 'namespace added');
    fake.delete('v1', 'Namespace', undefined, 'ops');
    await waitFor(() => !current().namespaces.has('ops'), 5_000, 'namespace deleted');
  });

  it('TrafficPolicy: update the weights, delete the policy', async () => {
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 50, v2: 50 }));
    await waitFor(() => routeWeights(current())?.[0]?.[1] === 50, 5_000, 'new weights');
    await waitFor(() => acceptedOf(fake, 'TrafficPolicy', 'shop', 'orders')?.observedGeneration === 2, 5_000, 'observedGeneration 2');
    fake.delete('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders');
    await waitFor(() => current().services.get(ordersHost)!.traffic === undefined, 5_000, 'policy deleted');
    expect(current().trafficPolicies).toEqual([]);
  });

  it('Canary: add and delete', async () => {
    fake.apply(canary('shop', 'orders-v2', 'orders', 'v1', 'v2'));
    await waitFor(() => current().canaries.find((c) => c.spec.service === 'orders')?.spec.canary === 'v2', 5_000, 'canary');
    await waitFor(() => acceptedOf(fake, 'Canary', 'shop', 'orders-v2')?.status === 'True', 5_000, 'canary accepted');
    fake.delete('sluice.dev/v1alpha1', 'Canary', 'shop', 'orders-v2');
    await waitFor(() => current().canaries.length === 0, 5_000, 'canary deleted');
  });

  it('WorkloadEntry: a VM joins and leaves the service whose selector matches it', async () => {
    fake.apply(workloadEntry('shop', 'orders-vm', '192.0.2.10', { app: 'orders', version: 'v1' }));
    await waitFor(() => versionEndpoints(current()).v1?.includes('192.0.2.10'), 5_000, 'VM endpoint');
    expect(current().services.get(ordersHost)!.endpoints.find((e) => e.address === '192.0.2.10')?.workload).toEqual({ kind: 'WorkloadEntry', namespace: 'shop', name: 'orders-vm' });
    fake.delete('sluice.dev/v1alpha1', 'WorkloadEntry', 'shop', 'orders-vm');
    await waitFor(() => !versionEndpoints(current()).v1?.includes('192.0.2.10'), 5_000, 'VM gone');
  });

  it('coalesces a burst of watch events into few loads, ending on the final state', async () => {
    const loadsBefore = run.loads;
    for (let i = 1; i <= 60; i++) {
      fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0'], [`10.0.9.${i}`, 'orders-v2-0']]));
    }
    await waitFor(() => versionEndpoints(current()).v2?.[0] === '10.0.9.60', 5_000, 'final endpoint');
    expect(run.loads - loadsBefore).toBeLessThanOrEqual(3);
  });
});
