/**
 * The gateway proxy kind: who is a gateway, its scope, its bootstrap, and
 * what its translation does with a Service's policy and with overrides.
 */
import { describe, expect, it } from 'vitest';
import { buildBootstrap } from '../../webhook/bootstrap.js';
import { assertValidBootstrap } from '../webhook/helpers.js';
import { applyOverrides } from '../../control-plane/model/overrides.js';
import { modelFromDirectory, proxyFromNode, resourcesForProxy } from '../../control-plane/pipeline/pipeline.js';
import { ProxyIdentityError, scopeKey, scopeOf } from '../../control-plane/translate/proxy-scope.js';
import { intersectMatches, withoutPrivateKeys } from '../../control-plane/translate/gateway.js';
import { formatConfigIssue } from '../../control-plane/core/errors.js';
import path from 'node:path';
import { readYamlDocuments } from '../kubernetes/helpers.js';

const gatewayNode = { namespace: 'shop', mode: 'gateway', gateway: 'shop/edge' };

describe('gateway proxies', () => {
  it('are told apart by the Gateway they serve, and need to name one', () => {
    const a = proxyFromNode('edge-0.shop', gatewayNode);
    const b = proxyFromNode('edge-1.shop', { ...gatewayNode, gateway: 'shop/other' });
    expect(a).toMatchObject({ mode: 'gateway', gateway: 'shop/edge', namespace: 'shop' });
    expect(() => proxyFromNode('edge-0.shop', { mode: 'gateway' })).toThrow(ProxyIdentityError);
    expect(() => proxyFromNode('edge-0.shop', { mode: 'gateway', gateway: 'edge' })).toThrow(/<namespace>\/<name>/);
    expect(scopeKey({ mode: 'gateway', namespace: 'shop', servedHosts: [], gateway: 'shop/edge' })).not.toBe(scopeKey({ mode: 'gateway', namespace: 'shop', servedHosts: [], gateway: 'shop/other' }));
    expect(b.gateway).toBe('shop/other');
  });

  it('boot with the sidecar bootstrap in gateway mode: Envoy\'s Bootstrap proto and rules accept it, the stats sink included', () => {
    const bootstrap = buildBootstrap({ nodeId: 'edge-0.shop', namespace: 'shop', workload: 'sluice-gateway', labels: { app: 'sluice-gateway' }, controlPlaneAddress: 'sluice.sluice-system.svc:15010', gateway: 'shop/edge' });
    expect((bootstrap.node as { metadata: Record<string, unknown> }).metadata).toMatchObject({ mode: 'gateway', gateway: 'shop/edge' });
    expect(JSON.stringify(bootstrap.stats_sinks)).toContain('envoy.stat_sinks.metrics_service');
    expect(assertValidBootstrap(bootstrap, 'gateway').length).toBeGreaterThan(300);
  });

  it('a path match and a service route\'s match combine only when one implies the other', () => {
    expect(intersectMatches({ path_separated_prefix: '/api' }, { prefix: '/api/orders', headers: [{ name: 'x', present_match: true }] })).toEqual({ prefix: '/api/orders', headers: [{ name: 'x', present_match: true }] });
    expect(intersectMatches({ path: '/api/orders/1' }, { prefix: '/api' })).toEqual({ path: '/api/orders/1' });
    expect(intersectMatches({ path_separated_prefix: '/shop' }, { prefix: '/' })).toEqual({ path_separated_prefix: '/shop' });
    expect(intersectMatches({ path_separated_prefix: '/shop' }, { prefix: '/admin' })).toBeUndefined();
  });

  it('follows a canary\'s routes override of the backend Service, as sidecars do', async () => {
    const { result } = await modelFromDirectory(path.join(process.cwd(), 'test/golden/gateway-http/in'));
    if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('\n'));
    const proxy = proxyFromNode('edge-0.shop', gatewayNode);
    expect(scopeOf(result.snapshot, proxy).gateway).toBe('shop/edge');
    const overridden = applyOverrides(result.snapshot, [{ kind: 'routes', service: 'orders.shop.svc.cluster.local', routes: [{ name: 'canary', match: { path: { kind: 'prefix', value: '/' }, headers: [] }, destinations: [{ version: 'v1', weight: 40 }, { version: 'v2', weight: 60 }] }] }]);
    if (!overridden.ok) throw new Error(JSON.stringify(overridden.issues));
    const routes = resourcesForProxy(overridden.snapshot, proxy).routes;
    const table = routes.find((r) => r.name === 'gateway|shop/edge|8080')!.body as { virtual_hosts: Array<{ routes: Array<{ name: string; route?: { weighted_clusters?: { clusters: Array<{ name: string; weight: number }> } } }> }> };
    const edgeOrders = table.virtual_hosts[0]!.routes.find((r) => r.name === 'shop/shop-api/rule-0/match-0/canary')!;
    expect(edgeOrders.route!.weighted_clusters!.clusters).toEqual([
      { name: 'outbound|8080|v1|orders.shop.svc.cluster.local', weight: 40 },
      { name: 'outbound|8080|v2|orders.shop.svc.cluster.local', weight: 60 },
    ]);
  });

  it('config dumps never show an HTTPS listener\'s private key', async () => {
    const { result } = await modelFromDirectory(path.join(process.cwd(), 'test/golden/gateway-https/in'));
    if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('\n'));
    const listeners = resourcesForProxy(result.snapshot, proxyFromNode('gw-0.gov-portal', { mode: 'gateway', gateway: 'gov-portal/portal' })).listeners;
    const text = JSON.stringify(listeners.map((l) => l.body));
    const key = /"private_key":\{"inline_bytes":"([^"]+)"/.exec(text)![1]!;
    const redacted = JSON.stringify(listeners.map((l) => withoutPrivateKeys(l.body)));
    expect(redacted).not.toContain(key);
    expect(redacted).toContain('"private_key":{"inline_string":"[redacted]"}');
    expect(redacted).toContain('certificate_chain');
  });

  it('the gateway Deployment in examples/deploy carries the bootstrap sluice gateway-bootstrap builds, which Envoy accepts once the kubelet expands it', async () => {
    const docs = await readYamlDocuments(path.join(process.cwd(), 'examples/deploy/50-gateway.yaml'));
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const env = deployment.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    const shipped = env.find((e) => e.name === 'SLUICE_BOOTSTRAP')!.value!;
    const built = buildBootstrap({ nodeId: '$(POD_NAME).$(POD_NAMESPACE)', namespace: '$(POD_NAMESPACE)', workload: 'sluice-gateway', labels: { app: 'sluice-gateway' }, controlPlaneAddress: 'sluice-xds.sluice-system.svc:15010', gateway: 'shop/edge', controlPlaneTls: { caFile: '/etc/sluice/xds-tls/ca.crt' } });
    expect(JSON.parse(shipped)).toEqual(built);
    const expanded = JSON.parse(shipped.replaceAll('$(POD_NAME)', 'sluice-gateway-7d9f-x2x9q').replaceAll('$(POD_NAMESPACE)', 'sluice-system'));
    expect(assertValidBootstrap(expanded, 'gateway').length).toBeGreaterThan(300);
    expect(proxyFromNode(expanded.node.id, expanded.node.metadata)).toMatchObject({ mode: 'gateway', gateway: 'shop/edge', namespace: 'sluice-system' });
  });
});
