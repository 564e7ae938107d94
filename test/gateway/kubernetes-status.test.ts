/**
 * Gateway API objects read from Kubernetes, and their status conditions
 * (Accepted, ResolvedRefs, Programmed; attached routes) written back through
 * the test API server, next to other controllers' route parents.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayControllerName } from '../../control-plane/api/gateway-api-kinds.js';
import { followGatewayStatus } from '../../control-plane/pipeline/gateway-status.js';
import { GatewayStatusWriter } from '../../control-plane/sources/kubernetes-gateway-status.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import path from 'node:path';
import { crdManifests, readYamlDocuments, repoRoot, routeWeights, seedOrders, silent, startSource, trafficPolicy, waitFor, type RunningSource } from '../kubernetes/helpers.js';

const group = 'gateway.networking.k8s.io';
const apiVersion = `${group}/v1`;
/** The Gateway API CRDs as the API server serves them (schemas are the upstream ones'; the fake needs only names and the status subresource). */
const gatewayCrds = [['GatewayClass', 'gatewayclasses', 'Cluster'], ['Gateway', 'gateways', 'Namespaced'], ['HTTPRoute', 'httproutes', 'Namespaced']].map(([kind, plural, scope]) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: { group, scope, names: { kind, plural }, versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} } }] },
}));

const route = (backend: string) => ({
  apiVersion,
  kind: 'HTTPRoute',
  metadata: { name: 'orders', namespace: 'shop' },
  spec: { parentRefs: [{ name: 'edge' }], hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: backend, port: 8080 }] }] },
});

type Conditions = Array<{ type: string; status: string; reason: string; observedGeneration?: number }>;
const conditionOf = (conditions: Conditions | undefined, type: string) => conditions?.find((c) => c.type === type);

describe('Gateway API status in Kubernetes', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('writes Accepted/Programmed on the GatewayClass and Gateway, attached routes per listener, and Accepted/ResolvedRefs per route parent, keeping other controllers\' parents', async () => {
    const fake = await FakeKubeApiServer.start({ crds: [...(await crdManifests()), ...gatewayCrds] });
    cleanups.push(() => fake.close());
    seedOrders(fake);
    fake.apply({ apiVersion, kind: 'GatewayClass', metadata: { name: 'sluice' }, spec: { controllerName: gatewayControllerName } });
    fake.apply({ apiVersion, kind: 'Gateway', metadata: { name: 'edge', namespace: 'shop' }, spec: { gatewayClassName: 'sluice', listeners: [{ name: 'web', port: 8080, protocol: 'HTTP' }] } });
    fake.apply(route('orders'));
    const foreign = { parentRef: { group, kind: 'Gateway', namespace: 'shop', name: 'istio-edge' }, controllerName: 'istio.io/gateway-controller', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    fake.applyStatus({ apiVersion, kind: 'HTTPRoute', metadata: { name: 'orders', namespace: 'shop' }, status: { parents: [foreign] } });

    // The first write of the Gateway's status fails: it is tried again.
    fake.failRequests((r) => r.method === 'PATCH' && r.path.endsWith('/gateways/edge/status'), 500, 1);
    const run: RunningSource = await startSource(fake);
    cleanups.push(() => run.stop());
    expect([...run.store.current!.gateway!.gateways.keys()]).toEqual(['shop/edge']);
    const writer = new GatewayStatusWriter(run.source.statusWriter, gatewayControllerName, silent);
    const unfollow = followGatewayStatus(run.store, writer);
    cleanups.push(async () => unfollow());

    const gateway = () => fake.get(apiVersion, 'Gateway', 'shop', 'edge')!.status as { conditions?: Conditions; listeners?: Array<{ name: string; attachedRoutes: number; conditions: Conditions }> } | undefined;
    const parents = () => ((fake.get(apiVersion, 'HTTPRoute', 'shop', 'orders')!.status as { parents?: Array<{ controllerName: string; conditions: Conditions }> } | undefined)?.parents ?? []);
    const ours = () => parents().find((p) => p.controllerName === gatewayControllerName);

    await waitFor(() => conditionOf(gateway()?.conditions, 'Programmed')?.status === 'True', 5_000, 'Gateway Programmed=True');
    expect(fake.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/gateways/edge/status')).map((r) => r.status)).toEqual([500, 200]);
    expect(conditionOf(gateway()!.conditions, 'Accepted')).toMatchObject({ status: 'True', observedGeneration: 1 });
    expect(gateway()!.listeners).toEqual([expect.objectContaining({ name: 'web', attachedRoutes: 1 })]);
    expect(conditionOf(gateway()!.listeners![0]!.conditions, 'Programmed')?.status).toBe('True');
    await waitFor(() => ours(), 5_000, 'route parent status');
    expect(conditionOf(ours()!.conditions, 'Accepted')?.status).toBe('True');
    expect(conditionOf(ours()!.conditions, 'ResolvedRefs')?.status).toBe('True');
    expect(parents()).toContainEqual(foreign);
    const classStatus = () => (fake.get(apiVersion, 'GatewayClass', undefined, 'sluice')!.status as { conditions?: Conditions } | undefined)?.conditions;
    await waitFor(() => conditionOf(classStatus(), 'Accepted')?.status === 'True', 5_000, 'GatewayClass Accepted=True');

    // A backend that does not exist: the route stays attached, ResolvedRefs turns False for the new generation.
    fake.apply(route('payments'));
    await waitFor(() => conditionOf(ours()?.conditions, 'ResolvedRefs')?.status === 'False', 5_000, 'ResolvedRefs=False');
    expect(conditionOf(ours()!.conditions, 'ResolvedRefs')).toMatchObject({ reason: 'BackendNotFound', observedGeneration: 2 });
    expect(conditionOf(ours()!.conditions, 'Accepted')?.status).toBe('True');
    expect(parents()).toContainEqual(foreign);
  });

  it('reads TLS Secrets only when asked (--gateway-tls-secrets): then an HTTPS listener is programmed with the Secret\'s certificate', async () => {
    const fake = await FakeKubeApiServer.start({ crds: [...(await crdManifests()), ...gatewayCrds] });
    cleanups.push(() => fake.close());
    seedOrders(fake);
    // The throw-away test certificate of the gateway-https golden.
    const golden = (await readYamlDocuments(path.join(repoRoot, 'test/golden/gateway-https/in/gateway.yaml'))).find((d) => d.kind === 'Secret')!;
    const tls = golden.data as { 'tls.crt': string; 'tls.key': string };
    fake.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'edge-tls', namespace: 'shop' }, type: 'kubernetes.io/tls', data: tls });
    fake.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-password', namespace: 'shop' }, type: 'Opaque', data: { password: 'aHVudGVyMg==' } });
    fake.apply({ apiVersion, kind: 'GatewayClass', metadata: { name: 'sluice' }, spec: { controllerName: gatewayControllerName } });
    fake.apply({ apiVersion, kind: 'Gateway', metadata: { name: 'edge', namespace: 'shop' }, spec: { gatewayClassName: 'sluice', listeners: [{ name: 'tls', port: 8443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'edge-tls' }] } }] } });

    const without = await startSource(fake);
    expect(without.store.current!.gateway!.gateways.get('shop/edge')!.listeners).toEqual([]);
    expect(fake.requests.some((r) => r.path.endsWith('/secrets'))).toBe(false);
    await without.stop();

    const run = await startSource(fake, { tlsSecrets: true });
    cleanups.push(() => run.stop());
    const [listener] = run.store.current!.gateway!.gateways.get('shop/edge')!.listeners;
    expect(listener).toMatchObject({ name: 'tls', port: 8443, certificates: [{ secret: 'shop/edge-tls', certificateChain: tls['tls.crt'], privateKey: tls['tls.key'] }] });
    // Only kubernetes.io/tls Secrets were listed.
    expect(run.store.current!.counts.Secret).toBe(1);
  });

  it('an HTTPRoute Sluice refuses (an RE2-invalid regex) falls back to its last good version with a Warning Event; the rest of the mesh keeps updating', async () => {
    const fake = await FakeKubeApiServer.start({ crds: [...(await crdManifests()), ...gatewayCrds] });
    cleanups.push(() => fake.close());
    seedOrders(fake);
    fake.apply({ apiVersion, kind: 'GatewayClass', metadata: { name: 'sluice' }, spec: { controllerName: gatewayControllerName } });
    fake.apply({ apiVersion, kind: 'Gateway', metadata: { name: 'edge', namespace: 'shop' }, spec: { gatewayClassName: 'sluice', listeners: [{ name: 'web', port: 8080, protocol: 'HTTP' }] } });
    const withPath = (type: string, value: string) => ({ ...route('orders'), spec: { ...route('orders').spec, rules: [{ matches: [{ path: { type, value } }], backendRefs: [{ name: 'orders', port: 8080 }] }] } });
    fake.apply(withPath('PathPrefix', '/orders'));
    const run = await startSource(fake);
    cleanups.push(() => run.stop());
    const edgePath = () => run.store.current!.gateway!.gateways.get('shop/edge')!.listeners[0]!.virtualHosts[0]?.routes[0]?.match.path;
    expect(edgePath()).toEqual({ kind: 'prefix', value: '/orders' });

    // Valid for the API server's schema, not for Envoy (RE2 has no look-ahead).
    fake.apply(withPath('RegularExpression', '/orders/(?=v2)'));
    fake.apply(trafficPolicy('shop', 'orders', 'orders', { v1: 50, v2: 50 }));
    await waitFor(() => routeWeights(run.store.current)?.[0]?.[1] === 50, 5_000, 'the policy edit served');
    expect(edgePath()).toEqual({ kind: 'prefix', value: '/orders' });
    const event = await waitFor(() => fake.list('v1', 'Event', 'shop').find((e) => (e.involvedObject as { kind: string }).kind === 'HTTPRoute'), 5_000, 'Warning Event on the HTTPRoute');
    expect(event).toMatchObject({ type: 'Warning', reason: 'BadRegex', involvedObject: { apiVersion, name: 'orders' } });
    expect(event.message).toContain('spec.rules[0].matches[0].path.value: is not a valid RE2 regular expression');

    fake.apply(withPath('Exact', '/orders/v2'));
    await waitFor(() => (edgePath() as { kind: string }).kind === 'exact', 5_000, 'the fixed route served');
  });

  it('a cluster without the Gateway API CRDs syncs; CRDs installed later are picked up without a restart', async () => {
    const fake = await FakeKubeApiServer.start({ crds: await crdManifests() });
    cleanups.push(() => fake.close());
    seedOrders(fake);
    const run = await startSource(fake, { absentKindRetryMs: 100 });
    cleanups.push(() => run.stop());
    expect(run.store.current!.gateway).toBeUndefined();
    for (const crd of gatewayCrds) fake.apply(crd);
    fake.apply({ apiVersion, kind: 'GatewayClass', metadata: { name: 'sluice' }, spec: { controllerName: gatewayControllerName } });
    fake.apply({ apiVersion, kind: 'Gateway', metadata: { name: 'edge', namespace: 'shop' }, spec: { gatewayClassName: 'sluice', listeners: [{ name: 'web', port: 8080, protocol: 'HTTP' }] } });
    // An absent kind is listed again every 100 ms here (30 s by default).
    await waitFor(() => run.store.current?.gateway?.gateways.has('shop/edge'), 5_000, 'the Gateway read once its CRD exists');
  });
});
