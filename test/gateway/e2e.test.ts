/**
 * End to end over ADS: a raw client that identifies itself as the gateway of
 * shop/edge receives the listener on the Gateway's port, the HTTPRoute's
 * routes (with the orders TrafficPolicy's split inside them), and a weight
 * change within a second; its stats sink feeds the telemetry canaries read;
 * `sluice status` lists it as a gateway.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SotwClient, typeUrls, type SotwResponse } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';
import { sluiceInProcess } from '../interop/sluice-cli.js';
import { openStatsSinkStream } from '../support/telemetry-clients.js';

const gatewayPort = 18080;
const edge = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: sluice }
spec: { controllerName: sluice.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: sluice
  listeners: [{ name: web, port: ${gatewayPort}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders, namespace: shop }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [shop.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api/orders } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;

interface RouteTable { name: string; virtual_hosts: Array<{ domains: string[]; routes: Array<{ name: string; match: Record<string, unknown>; route: { weighted_clusters?: { clusters: Array<{ name: string; weight: number }> } } }> }> }
const weightsOf = (response: SotwResponse) => {
  const table = response.resources[0] as unknown as RouteTable;
  return table.virtual_hosts[0]!.routes[0]!.route.weighted_clusters!.clusters.map((c) => [c.name.split('|')[2], c.weight]);
};

describe('gateway over ADS and the stats sink', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('gets its listener and routes, and a weight change within a second', async () => {
    const cp = await startControlPlane({ 'mesh.yaml': ordersService, 'policy.yaml': ordersPolicy([90, 10]), 'edge.yaml': edge });
    cleanups.push(() => cp.stop());
    const client = new SotwClient(cp.xdsAddress, { nodeId: 'edge-0.shop', metadata: { namespace: 'shop', mode: 'gateway', gateway: 'shop/edge' } });
    cleanups.push(() => client.close());

    client.request(typeUrls.clusters);
    const clusters = await client.nextOf(typeUrls.clusters);
    expect(clusters.resources.map((c) => c.name)).toContain('outbound|8080|v2|orders.shop.svc.cluster.local');
    client.ack(clusters);
    client.request(typeUrls.listeners);
    const listeners = await client.nextOf(typeUrls.listeners);
    expect(listeners.resources).toHaveLength(1);
    const listener = listeners.resources[0] as { name: string; address: { socket_address: { port_value: number } }; bind_to_port?: boolean };
    expect(listener).toMatchObject({ name: `gateway_${gatewayPort}`, address: { socket_address: { port_value: gatewayPort } } });
    expect(listener.bind_to_port).not.toBe(false);
    client.ack(listeners);

    const tableName = `gateway|shop/edge|${gatewayPort}`;
    client.request(typeUrls.routes, [tableName]);
    const routes = await client.nextOf(typeUrls.routes);
    const table = routes.resources[0] as unknown as RouteTable;
    expect(table.name).toBe(tableName);
    expect(table.virtual_hosts[0]!.domains).toEqual(['shop.example.com', `shop.example.com:${gatewayPort}`]);
    expect(table.virtual_hosts[0]!.routes.map((r) => r.name)).toEqual(['shop/orders/rule-0/match-0/split']);
    expect(table.virtual_hosts[0]!.routes[0]!.match).toEqual({ path_separated_prefix: '/api/orders' });
    expect(weightsOf(routes)).toEqual([['v1', 90], ['v2', 10]]);
    client.ack(routes, [tableName]);

    // A canary step's worth of change to the Service's policy reaches the edge.
    const edited = performance.now();
    await cp.config.write('policy.yaml', ordersPolicy([50, 50]));
    const changed = await client.next((r) => r.type_url === typeUrls.routes && weightsOf(r)[0]![1] === 50, 5_000);
    const elapsed = performance.now() - edited;
    expect(weightsOf(changed)).toEqual([['v1', 50], ['v2', 50]]);
    expect(elapsed).toBeLessThan(1_000);
    if (process.env.SLUICE_TEST_FIGURES) process.stderr.write(`gateway weight change reached the edge in ${elapsed.toFixed(0)} ms\n`);
    client.ack(changed, [tableName]);

    // Its stats sink reports under the mesh's cluster names: the canary controller's telemetry counts edge traffic.
    const sink = openStatsSinkStream(cp.xdsAddress, 'edge-0.shop');
    cleanups.push(() => sink.close());
    const v2 = 'outbound|8080|v2|orders.shop.svc.cluster.local';
    const flush = (ok: number, failed: number) => [
      { name: `cluster.${v2}.upstream_rq_2xx`, type: 0, metric: [{ counter: { value: ok } }] },
      { name: `cluster.${v2}.upstream_rq_5xx`, type: 0, metric: [{ counter: { value: failed } }] },
    ];
    sink.send(flush(0, 0));
    sink.send(flush(48, 2));
    const telemetry = async () => ((await cp.admin('/debug/telemetry?windowMs=60000')).json() as { versions: Array<{ source: string; host?: string; version: string; requests: number; errors: number }> }).versions;
    await expect.poll(async () => (await telemetry()).find((r) => r.source === 'statsSink' && r.version === 'v2')?.requests, { timeout: 3_000 }).toBe(50);
    expect((await telemetry()).find((r) => r.source === 'statsSink' && r.version === 'v2')).toMatchObject({ errors: 2 });

    // sluice status lists it as the gateway of shop/edge.
    const status = await sluiceInProcess(['status', '--admin', `http://127.0.0.1:${cp.controlPlane.admin.port}`]);
    expect(status.stdout).toMatch(/edge-0\.shop\s+shop\s+gateway shop\/edge/);
    expect(status.stdout).toContain('Gateways served: shop/edge (1 proxy)');
    // And the Gateways themselves: programmed, their listeners, attached routes, connected proxies.
    expect(status.stdout).toMatch(new RegExp(`GATEWAY\\s+PROGRAMMED\\s+LISTENERS\\s+ROUTES\\s+PROXIES\\nshop/edge\\s+True\\s+web:${gatewayPort}/HTTP\\s+1\\s+1\\n`));
  });
});
