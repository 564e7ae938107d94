/**
 * Kubernetes to proxy: objects changed on the (fake) API server reach a proxy
 * over xDS through `ControlPlane` with the Kubernetes source — the real
 * @kubernetes/client-node on one side, a raw ADS client on the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../control-plane/pipeline/control-plane.js';
import { kubernetesSource as createKubernetesSource } from '../../control-plane/pipeline/kubernetes-source.js';
import { SotwClient, typeUrls, type SotwResponse } from '../support/ads-client.js';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { endpointSlice, pod, seedOrders, silent, startFakeCluster, trafficPolicy, workloadEntry } from './helpers.js';

const v2Cluster = 'outbound|8080|v2|orders.shop.svc.cluster.local';
let fake: FakeKubeApiServer;
let controlPlane: ControlPlane;
let client: SotwClient;

beforeAll(async () => {
  fake = await startFakeCluster();
  seedOrders(fake);
  const source = createKubernetesSource({ kubeconfig: await fake.writeKubeconfig(), logger: silent, coalesceMs: 20, backoff: { initialMs: 20, maxMs: 200 } });
  controlPlane = new ControlPlane({ source, logger: silent, host: '127.0.0.1', xdsPort: 0, adminPort: 0, debounceMs: 20 });
  const { xdsPort } = await controlPlane.start();
  client = new SotwClient(`127.0.0.1:${xdsPort}`, { nodeId: 'frontend-0.shop', metadata: { namespace: 'shop', labels: { app: 'frontend' } } });
});

afterAll(async () => {
  client?.close();
  await controlPlane?.stop();
  await fake?.close();
});

const addresses = (response: SotwResponse) =>
  (response.resources[0]!.endpoints as Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string } } } }> }>)
    .flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address.address))
    .sort();

describe('Kubernetes changes reaching a proxy over xDS', () => {
  let cds: SotwResponse;
  let eds: SotwResponse;
  let rds: SotwResponse;

  it('initial sync: clusters, endpoints and routes from the cluster', async () => {
    client.request(typeUrls.clusters);
    cds = await client.nextOf(typeUrls.clusters);
    expect(cds.resources.map((r) => r.name)).toContain(v2Cluster);
    client.ack(cds);
    client.request(typeUrls.endpoints, [v2Cluster]);
    eds = await client.nextOf(typeUrls.endpoints);
    expect(addresses(eds)).toEqual(['10.0.0.3']);
    client.ack(eds, [v2Cluster]);
    client.request(typeUrls.routes, ['8080']);
    rds = await client.nextOf(typeUrls.routes);
    expect(JSON.stringify(rds.resources[0])).toContain('"weight":10');
    client.ack(rds, ['8080']);
  });

  it('an EndpointSlice update (a new v2 pod) is pushed as EDS', async () => {
    fake.apply(pod('shop', 'orders-v2-1', { app: 'orders', version: 'v2' }));
    fake.apply(endpointSlice('shop', 'orders', [['10.0.0.1', 'orders-v1-0'], ['10.0.0.2', 'orders-v1-1'], ['10.0.0.3', 'orders-v2-0'], ['10.0.0.4', 'orders-v2-1']]));
    eds = await client.nextOf(typeUrls.endpoints, 5000);
    expect(addresses(eds)).toEqual(['10.0.0.3', '10.0.0.4']);
    client.ack(eds, [v2Cluster]);
  });

  it('a WorkloadEntry (a VM) joins the version its labels select', async () => {
    fake.apply(workloadEntry('shop', 'orders-vm', '10.20.0.9', { app: 'orders', version: 'v2' }));
    eds = await client.nextOf(typeUrls.endpoints, 5000);
    expect(addresses(eds)).toEqual(['10.0.0.3', '10.0.0.4', '10.20.0.9']);
    client.ack(eds, [v2Cluster]);
  });

  it('a TrafficPolicy update is pushed as RDS', async () => {
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 40, v2: 60 }));
    // Earlier pod changes also reach RDS (pod addresses are names of the service): ACK those, as Envoy would, until the new weights come.
    for (;;) {
      rds = await client.nextOf(typeUrls.routes, 5000);
      client.ack(rds, ['8080']);
      if (JSON.stringify(rds.resources).includes('"weight":60')) break;
    }
  });

  it('deleting the Service removes its clusters', async () => {
    fake.delete('sluice.dev/v1alpha1', 'TrafficPolicy', 'shop', 'orders');
    fake.delete('v1', 'Service', 'shop', 'orders');
    const next = await client.next((r) => r.type_url === typeUrls.clusters && !r.resources.some((c) => c.name === v2Cluster), 5000);
    expect(next.resources.map((r) => r.name)).not.toContain(v2Cluster);
  });
});
