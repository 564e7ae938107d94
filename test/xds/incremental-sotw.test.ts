/**
 * State of the world, but incremental where the protocol allows it: an EDS or
 * RDS response after an ACK carries only what changed (Envoy and gRPC keep
 * omitted endpoints and route tables); LDS and CDS always carry everything.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SotwClient, typeUrls } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const node = { nodeId: 'frontend-0.shop', metadata: { namespace: 'shop', labels: { app: 'frontend' }, mode: 'sidecar' } };
const v1 = 'outbound|8080|v1|orders.shop.svc.cluster.local';
const v2 = 'outbound|8080|v2|orders.shop.svc.cluster.local';
const all = 'outbound|8080||orders.shop.svc.cluster.local';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('incremental state-of-the-world EDS', () => {
  it('after an ACK, an endpoint change sends only the changed ClusterLoadAssignments; a new stream gets them all', async () => {
    const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy([90, 10]) });
    cleanups.push(() => running.stop());
    const client = new SotwClient(running.xdsAddress, node);
    cleanups.push(() => client.close());
    client.request(typeUrls.clusters);
    client.ack(await client.nextOf(typeUrls.clusters));
    const names = [all, v1, v2];
    client.request(typeUrls.endpoints, names);
    const first = await client.nextOf(typeUrls.endpoints);
    expect(first.resources.map((r) => r.cluster_name).sort()).toEqual([...names].sort());
    client.ack(first, names);

    // The v2 pod becomes ready: the v2 and whole-service assignments change, v1's does not.
    await running.config.write('svc.yaml', ordersService.replace(', conditions: { ready: false }', ''));
    const second = await client.nextOf(typeUrls.endpoints, 3_000);
    expect(second.version_info).not.toBe(first.version_info);
    expect(second.resources.map((r) => r.cluster_name).sort()).toEqual([all, v2].sort());
    client.ack(second, names);

    // A proxy that has nothing gets the full set at the same version.
    const fresh = new SotwClient(running.xdsAddress, { ...node, nodeId: 'frontend-1.shop' });
    cleanups.push(() => fresh.close());
    fresh.request(typeUrls.endpoints, names);
    const full = await fresh.nextOf(typeUrls.endpoints);
    expect(full.version_info).toBe(second.version_info);
    expect(full.resources).toHaveLength(3);
  });
});
