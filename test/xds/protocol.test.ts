/**
 * The xDS protocol as a raw client sees it: versions and nonces, ACK/NACK,
 * wildcard and named subscriptions, push order, coalescing for a slow proxy,
 * and delta with initial_resource_versions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeltaClient, SotwClient, typeUrls } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';

const sidecar = { nodeId: 'frontend-0.shop', metadata: { namespace: 'shop', labels: { app: 'frontend' }, mode: 'sidecar' } };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup() {
  const running = await startControlPlane({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy([90, 10]) });
  cleanups.push(() => running.stop());
  return running;
}

function sotw(address: string, node = sidecar) {
  const client = new SotwClient(address, node);
  cleanups.push(() => client.close());
  return client;
}

type Route = { name: string; route: { weighted_clusters?: { clusters: Array<{ name: string; weight: number }> }; cluster?: string } };
const weightsOf = (routeConfig: Record<string, unknown>) => {
  const vhost = (routeConfig.virtual_hosts as Array<{ name: string; routes: Route[] }>).find((v) => v.name.startsWith('orders.'))!;
  return vhost.routes[0]!.route.weighted_clusters!.clusters.map((c) => c.weight);
};

describe('state-of-the-world ADS', () => {
  it('serves wildcard CDS, named EDS and RDS; a policy edit pushes only the route table', async () => {
    const { xdsAddress, config } = await setup();
    const client = sotw(xdsAddress);
    client.request(typeUrls.clusters);
    const cds = await client.nextOf(typeUrls.clusters);
    expect(cds.resources.map((r) => r.name).sort()).toEqual([
      'InboundPassthroughCluster',
      'PassthroughCluster',
      'outbound|8080||orders.shop.svc.cluster.local',
      'outbound|8080|v1|orders.shop.svc.cluster.local',
      'outbound|8080|v2|orders.shop.svc.cluster.local',
    ].sort());
    expect(cds.nonce).not.toBe('');
    client.ack(cds);

    client.request(typeUrls.endpoints, ['outbound|8080|v2|orders.shop.svc.cluster.local']);
    const eds = await client.nextOf(typeUrls.endpoints);
    expect(eds.resources).toHaveLength(1);
    expect(JSON.stringify(eds.resources[0])).toContain('10.0.0.2');
    client.ack(eds, ['outbound|8080|v2|orders.shop.svc.cluster.local']);

    client.request(typeUrls.routes, ['8080']);
    const rds = await client.nextOf(typeUrls.routes);
    expect(weightsOf(rds.resources[0]!)).toEqual([90, 10]);
    client.ack(rds, ['8080']);

    await config.write('tp.yaml', ordersPolicy([50, 50]));
    const pushed = await client.nextOf(typeUrls.routes, 3000);
    expect(weightsOf(pushed.resources[0]!)).toEqual([50, 50]);
    expect(pushed.version_info).not.toBe(rds.version_info);
    // Clusters and endpoints did not change: nothing else was pushed.
    await new Promise((r) => setTimeout(r, 200));
    expect(client.pending()).toEqual([]);
  });

  it('a NACK is counted and shown, the proxy keeps its version, and the next good config reaches it', async () => {
    const { xdsAddress, config, admin } = await setup();
    const client = sotw(xdsAddress);
    client.request(typeUrls.routes, ['8080']);
    const first = await client.nextOf(typeUrls.routes);
    client.ack(first, ['8080']);
    await config.write('tp.yaml', ordersPolicy([80, 20]));
    const rejected = await client.nextOf(typeUrls.routes, 3000);
    client.nack(rejected, 'pretend Envoy rejected it', first.version_info, ['8080']);
    await expect.poll(async () => (await admin('/metrics')).text).toMatch(/sluice_xds_nacks_total\{type="routes"\} 1/);
    const syncz = (await admin('/debug/syncz')).json() as Array<{ nodeId: string; types: Record<string, { status: string; nackMessage: string }> }>;
    expect(syncz[0]!.nodeId).toBe('frontend-0.shop');
    expect(syncz[0]!.types.routes).toMatchObject({ status: 'NACKED', nackMessage: 'pretend Envoy rejected it' });
    // The rejected version is not sent again; the next change is.
    await new Promise((r) => setTimeout(r, 200));
    expect(client.pending()).toEqual([]);
    await config.write('tp.yaml', ordersPolicy([70, 30]));
    const next = await client.nextOf(typeUrls.routes, 3000);
    expect(weightsOf(next.resources[0]!)).toEqual([70, 30]);
    client.ack(next, ['8080']);
    await expect.poll(async () => ((await admin('/debug/syncz')).json() as Array<{ types: Record<string, { status: string }> }>)[0]!.types.routes!.status).toBe('SYNCED');
  });

  it('a slow proxy gets only the latest version once it answers (intermediate versions coalesce)', async () => {
    const { xdsAddress, config } = await setup();
    const client = sotw(xdsAddress);
    client.request(typeUrls.routes, ['8080']);
    const first = await client.nextOf(typeUrls.routes);
    // No ACK yet: five edits land while the proxy is busy.
    for (const weight of [11, 12, 13, 14, 15]) {
      await config.write('tp.yaml', ordersPolicy([100 - weight, weight]));
      await new Promise((r) => setTimeout(r, 120));
    }
    expect(client.pending()).toEqual([]);
    client.ack(first, ['8080']);
    const latest = await client.nextOf(typeUrls.routes, 3000);
    expect(weightsOf(latest.resources[0]!)).toEqual([85, 15]);
    await new Promise((r) => setTimeout(r, 200));
    expect(client.pending()).toEqual([]);
  });

  it('pushes clusters before endpoints when both change', async () => {
    const { xdsAddress, config } = await setup();
    const client = sotw(xdsAddress);
    client.request(typeUrls.clusters);
    const cds = await client.nextOf(typeUrls.clusters);
    client.ack(cds);
    const edsNames = ['outbound|8080|v1|orders.shop.svc.cluster.local'];
    client.request(typeUrls.endpoints, edsNames);
    const eds = await client.nextOf(typeUrls.endpoints);
    client.ack(eds, edsNames);
    // Adding a circuit breaker changes every cluster; moving the v1 endpoint changes EDS.
    await config.write('svc.yaml', ordersService.replace('10.0.0.1', '10.0.0.9'));
    await config.write('tp.yaml', `${ordersPolicy()}  circuitBreaker: { maxConnections: 7 }\n`);
    const order: string[] = [];
    const second = await client.next(undefined, 3000);
    order.push(second.type_url);
    const third = await client.next(undefined, 3000);
    order.push(third.type_url);
    expect(order).toEqual([typeUrls.clusters, typeUrls.endpoints]);
  });

  it('an invalid edit pushes nothing and /readyz reports the error while the last good config is served', async () => {
    const { xdsAddress, config, admin } = await setup();
    const client = sotw(xdsAddress);
    client.request(typeUrls.routes, ['8080']);
    const first = await client.nextOf(typeUrls.routes);
    client.ack(first, ['8080']);
    await config.write('tp.yaml', ordersPolicy([90, 20]));
    await expect.poll(async () => JSON.stringify((await admin('/readyz')).json())).toContain('weights must sum to 100, got 110');
    const ready = await admin('/readyz');
    expect(ready.status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(client.pending()).toEqual([]);
    const dump = (await admin('/debug/config_dump?proxy=frontend-0.shop')).json() as { routes: Array<{ resource: Record<string, unknown> }> };
    expect(weightsOf(dump.routes.find((r) => (r.resource as { name: string }).name === '8080')!.resource)).toEqual([90, 10]);
  });
});

describe('delta ADS', () => {
  it('sends only what changed, and a reconnecting proxy with initial_resource_versions gets only the difference', async () => {
    const { xdsAddress, config } = await setup();
    const client = new DeltaClient(xdsAddress, sidecar);
    cleanups.push(() => client.close());
    client.request({ typeUrl: typeUrls.clusters });
    const first = await client.nextOf(typeUrls.clusters);
    expect(first.resources.map((r) => r.name)).toHaveLength(5);
    client.ack(first);
    const versions = Object.fromEntries(first.resources.map((r) => [r.name, r.version]));

    // Add an outlier-detection policy: every orders cluster changes, the passthrough ones do not.
    await config.write('tp.yaml', `${ordersPolicy()}  outlierDetection: { consecutive5xx: 3 }\n`);
    const update = await client.nextOf(typeUrls.clusters, 3000);
    expect(update.resources.map((r) => r.name).sort()).toEqual([
      'outbound|8080||orders.shop.svc.cluster.local',
      'outbound|8080|v1|orders.shop.svc.cluster.local',
      'outbound|8080|v2|orders.shop.svc.cluster.local',
    ].sort());
    expect(update.removed_resources).toEqual([]);
    client.ack(update);
    client.close();

    // Reconnect knowing the old versions: only the three changed clusters come back.
    const again = new DeltaClient(xdsAddress, sidecar);
    cleanups.push(() => again.close());
    again.request({ typeUrl: typeUrls.clusters, initialVersions: versions });
    const resumed = await again.nextOf(typeUrls.clusters);
    expect(resumed.resources.map((r) => r.name).sort()).toEqual(update.resources.map((r) => r.name).sort());

    // Removing the policy's v2 version removes that cluster.
    again.ack(resumed);
    await config.write('tp.yaml', ordersPolicy([100, 0]).replace("    v2: { labels: { version: v2 } }\n", '').replace('        - { version: v2, weight: 0 }\n', ''));
    const removal = await again.nextOf(typeUrls.clusters, 3000);
    expect(removal.removed_resources).toEqual(['outbound|8080|v2|orders.shop.svc.cluster.local']);
  });

  it('a synced stream moves by shared diffs; after a NACK the rejected versions are not resent until they change', async () => {
    const { xdsAddress, config } = await setup();
    const client = new DeltaClient(xdsAddress, sidecar);
    cleanups.push(() => client.close());
    client.request({ typeUrl: typeUrls.clusters });
    client.ack(await client.nextOf(typeUrls.clusters));
    // Synced: an edit reaches it as just the changed clusters (the diff path).
    await config.write('tp.yaml', `${ordersPolicy()}  outlierDetection: { consecutive5xx: 3 }\n`);
    const changed = await client.nextOf(typeUrls.clusters, 3000);
    expect(changed.resources).toHaveLength(3);
    // Rejected: a later snapshot that leaves clusters alone sends nothing, and does not resend the rejected versions.
    client.request({ typeUrl: typeUrls.clusters, nonce: changed.nonce, errorMessage: 'outlier detection refused' });
    await config.write('tp.yaml', `${ordersPolicy([80, 20])}  outlierDetection: { consecutive5xx: 3 }\n`);
    await new Promise((r) => setTimeout(r, 600));
    expect(client.pending().filter((r) => r.type_url === typeUrls.clusters)).toEqual([]);
    // A new version of them is sent (the full scan path, since the stream is no longer synced).
    await config.write('tp.yaml', `${ordersPolicy([80, 20])}  outlierDetection: { consecutive5xx: 4 }\n`);
    const again = await client.nextOf(typeUrls.clusters, 3000);
    expect(again.resources.map((r) => r.name).sort()).toEqual(changed.resources.map((r) => r.name).sort());
    expect(again.resources.map((r) => r.version)).not.toEqual(changed.resources.map((r) => r.version));
  });

  it('named subscriptions: subscribe and unsubscribe', async () => {
    const { xdsAddress } = await setup();
    const client = new DeltaClient(xdsAddress, sidecar);
    cleanups.push(() => client.close());
    client.request({ typeUrl: typeUrls.endpoints, subscribe: ['outbound|8080|v1|orders.shop.svc.cluster.local'] });
    const first = await client.nextOf(typeUrls.endpoints);
    expect(first.resources.map((r) => r.name)).toEqual(['outbound|8080|v1|orders.shop.svc.cluster.local']);
    client.request({ typeUrl: typeUrls.endpoints, nonce: first.nonce, subscribe: ['outbound|8080|v2|orders.shop.svc.cluster.local'], unsubscribe: ['outbound|8080|v1|orders.shop.svc.cluster.local'] });
    const second = await client.nextOf(typeUrls.endpoints);
    expect(second.resources.map((r) => r.name)).toEqual(['outbound|8080|v2|orders.shop.svc.cluster.local']);
  });
});
