/**
 * Gateway API manifests → the edge's IR: schema errors with file:line, model
 * errors gathered together, and what unresolved references become (status
 * conditions and warnings, not errors).
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatConfigIssue } from '../../control-plane/core/errors.js';
import { modelFromDirectory } from '../../control-plane/pipeline/pipeline.js';
import { ordersService, tempConfig } from '../support/temp-config.js';

const gatewayClass = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: sluice }
spec: { controllerName: sluice.dev/gateway-controller }
`;
const gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: sluice
  listeners:
    - { name: web, port: 8080, protocol: HTTP }
`;

async function load(files: Record<string, string>) {
  const config = await tempConfig(files);
  try {
    const { result } = await modelFromDirectory(config.dir);
    return { result, dir: config.dir, text: result.ok ? [] : result.issues.map((i) => formatConfigIssue(i).replaceAll(`${config.dir}/`, '')) };
  } finally {
    await config.cleanup();
  }
}

describe('Gateway API input', () => {
  it('rejects what the official schema rejects, at the file:line:column of the field', async () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders, namespace: shop }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches:
        - path: { type: Bogus, value: /orders }
      backendRefs:
        - { name: orders, port: 99999 }
`;
    const { result, text } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': gateway, 'route.yaml': route });
    expect(result.ok).toBe(false);
    expect(text).toEqual(expect.arrayContaining([
      expect.stringMatching(/^route\.yaml:8:19: HTTPRoute shop\/orders: spec\.rules\[0\]\.matches\[0\]\.path\.type: must be one of Exact, PathPrefix, RegularExpression; got string "Bogus"$/),
      expect.stringMatching(/^route\.yaml:10:27: HTTPRoute shop\/orders: spec\.rules\[0\]\.backendRefs\[0\]\.port: must be at most 65535, got 99999$/),
    ]));
  });

  it('gathers every model error (RE2 regex, duplicate listener, bad duration, HTTPS without certificates) in one load', async () => {
    const badGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: sluice
  listeners:
    - { name: web, port: 8080, protocol: HTTP }
    - { name: web, port: 8081, protocol: HTTP }
    - { name: tls, port: 8443, protocol: HTTPS }
`;
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders, namespace: shop }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches:
        - path: { type: RegularExpression, value: "/orders/(?=v2)" }
      backendRefs: [{ name: orders, port: 8080 }]
      timeouts: { request: 10s, backendRequest: 20s }
`;
    const { result, text } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': badGateway, 'route.yaml': route });
    expect(result.ok).toBe(false);
    expect(text).toEqual(expect.arrayContaining([
      expect.stringMatching(/^gateway\.yaml:8:9: Gateway shop\/edge: spec\.listeners\[1\]\.name: listener name "web" is already used/),
      expect.stringMatching(/^gateway\.yaml:9:\d+: Gateway shop\/edge: spec\.listeners\[2\](\.tls)?: an HTTPS listener needs tls\.certificateRefs/),
      expect.stringMatching(/^route\.yaml:8:\d+: HTTPRoute shop\/orders: spec\.rules\[0\]\.matches\[0\]\.path\.value: is not a valid RE2/),
      expect.stringMatching(/^route\.yaml:10:\d+: HTTPRoute shop\/orders: spec\.rules\[0\]\.timeouts\.backendRequest: must not be longer than timeouts\.request/),
    ]));
  });

  it('builds the IR: attached routes in precedence order, unresolved backends as status and warnings, Gateways of other classes ignored', async () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders, namespace: shop }
spec:
  parentRefs: [{ name: edge }, { name: other }]
  hostnames: [shop.example.com]
  rules:
    - backendRefs: [{ name: orders, port: 8080 }]
    - matches:
        - path: { type: Exact, value: /orders/health }
        - path: { type: PathPrefix, value: /orders/ }
          headers: [{ name: X-Beta, value: "yes" }]
          queryParams: [{ name: lang, type: RegularExpression, value: "en|fr" }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Edge, value: sluice }], remove: [X-Debug] }
      backendRefs:
        - { name: orders, port: 8080, weight: 90 }
        - { name: missing, port: 8080, weight: 10 }
`;
    const other = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: other, namespace: shop }
spec:
  gatewayClassName: someone-else
  listeners: [{ name: web, port: 80, protocol: HTTP }]
`;
    const { result } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': gateway, 'other.yaml': other, 'route.yaml': route });
    if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('\n'));
    const model = result.snapshot.gateway!;
    expect([...model.gateways.keys()]).toEqual(['shop/edge']);
    const listener = model.gateways.get('shop/edge')!.listeners[0]!;
    expect(listener.virtualHosts.map((h) => h.hostname)).toEqual(['shop.example.com']);
    const routes = listener.virtualHosts[0]!.routes;
    expect(routes.map((r) => r.name)).toEqual(['shop/orders/rule-1/match-0', 'shop/orders/rule-1/match-1', 'shop/orders/rule-0/match-0']);
    expect(routes[1]!.match).toEqual({ path: { kind: 'prefix', value: '/orders' }, headers: [{ name: 'x-beta', kind: 'string', match: { kind: 'exact', value: 'yes' } }], queryParams: [{ name: 'lang', match: { kind: 'regex', pattern: 'en|fr' } }] });
    expect(routes[1]!.backends).toEqual([{ host: 'orders.shop.svc.cluster.local', port: 8080, weight: 90 }]);
    expect(routes[1]!.requestHeaders).toEqual({ set: [{ name: 'x-edge', value: 'sluice' }], add: [], remove: ['x-debug'] });
    const parents = model.status.httpRoutes[0]!.status.parents;
    expect(parents).toHaveLength(1);
    expect(parents[0]!.conditions.find((c) => c.type === 'Accepted')?.status).toBe('True');
    expect(parents[0]!.conditions.find((c) => c.type === 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
    expect(model.status.gateways[0]!.status.listeners[0]).toMatchObject({ name: 'web', attachedRoutes: 1 });
    expect(result.snapshot.warnings.map((w) => w.message)).toEqual(expect.arrayContaining([expect.stringContaining('Service shop/missing does not exist')]));
  });

  it('an HTTPS listener whose Secret is missing is not programmed, and says why in its conditions', async () => {
    const tlsGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: sluice
  listeners:
    - name: tls
      port: 8443
      protocol: HTTPS
      tls: { certificateRefs: [{ name: shop-cert }] }
`;
    const { result } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': tlsGateway });
    if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('\n'));
    expect(result.snapshot.gateway!.gateways.get('shop/edge')!.listeners).toEqual([]);
    const status = result.snapshot.gateway!.status.gateways[0]!.status;
    expect(status.conditions.find((c) => c.type === 'Programmed')?.status).toBe('False');
    expect(status.listeners[0]!.conditions.find((c) => c.type === 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'InvalidCertificateRef' });

    // A Secret whose certificate does not parse, or whose key is another one's, is refused here rather than NACKed by every gateway.
    const golden = (await readFile(path.join(process.cwd(), 'test/golden/gateway-https/in/gateway.yaml'), 'utf8'));
    const crt = /tls\.crt: (\S+)/.exec(golden)![1]!;
    const key = /tls\.key: (\S+)/.exec(golden)![1]!;
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const secret = (data: Record<string, string>) => `apiVersion: v1\nkind: Secret\nmetadata: { name: shop-cert, namespace: shop }\ntype: kubernetes.io/tls\ndata: ${JSON.stringify(data)}\n`;
    const refOf = async (data: Record<string, string>) => {
      const { result: r } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': tlsGateway, 'secret.yaml': secret(data) });
      if (!r.ok) throw new Error(r.issues.map(formatConfigIssue).join('\n'));
      return { listeners: r.snapshot.gateway!.gateways.get('shop/edge')!.listeners.length, resolved: r.snapshot.gateway!.status.gateways[0]!.status.listeners[0]!.conditions.find((c) => c.type === 'ResolvedRefs')! };
    };
    expect(await refOf({ 'tls.crt': crt, 'tls.key': key })).toMatchObject({ listeners: 1, resolved: { status: 'True' } });
    expect(await refOf({ 'tls.crt': Buffer.from('not a certificate').toString('base64'), 'tls.key': key })).toMatchObject({ listeners: 0, resolved: { status: 'False', message: expect.stringContaining('must be a PEM certificate') } });
    expect(await refOf({ 'tls.crt': crt, 'tls.key': Buffer.from(otherKey).toString('base64') })).toMatchObject({ listeners: 0, resolved: { status: 'False', message: expect.stringContaining('is not the key of the certificate') } });
  });

  it('two listeners with one hostname on one port conflict (the second is not programmed); a route attached twice to a listener counts once', async () => {
    const twoListeners = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: sluice
  listeners:
    - { name: web, port: 8080, protocol: HTTP }
    - { name: again, port: 8080, protocol: HTTP }
    - { name: shop, port: 8080, protocol: HTTP, hostname: shop.example.com }
`;
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders, namespace: shop }
spec:
  parentRefs: [{ name: edge }, { name: edge, sectionName: web }]
  rules: [{ backendRefs: [{ name: orders, port: 8080 }] }]
`;
    const { result } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': twoListeners, 'route.yaml': route });
    if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('\n'));
    const model = result.snapshot.gateway!;
    expect(model.gateways.get('shop/edge')!.listeners.map((l) => l.name)).toEqual(['web', 'shop']);
    const listeners = model.status.gateways[0]!.status.listeners;
    expect(listeners.find((l) => l.name === 'again')!.conditions.find((c) => c.type === 'Conflicted')).toMatchObject({ status: 'True', reason: 'HostnameConflict' });
    expect(listeners.find((l) => l.name === 'web')!.attachedRoutes).toBe(1);
    expect(model.gateways.get('shop/edge')!.listeners[0]!.virtualHosts[0]!.routes).toHaveLength(1);
  });

  it('a GRPCRoute attaches like an HTTPRoute, its methods become paths, and its status is its own', async () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: orders, namespace: shop }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ method: { service: shop.v1.Orders, method: Get } }, { method: { service: shop.v1.Orders } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    const { result } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': gateway, 'route.yaml': route });
    if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('\n'));
    const model = result.snapshot.gateway!;
    const routes = model.gateways.get('shop/edge')!.listeners[0]!.virtualHosts[0]!.routes;
    expect(routes.map((r) => [r.name, r.match.path])).toEqual([
      ['shop/orders/grpc/rule-0/match-0', { kind: 'exact', value: '/shop.v1.Orders/Get' }],
      ['shop/orders/grpc/rule-0/match-1', { kind: 'prefix', value: '/shop.v1.Orders' }],
    ]);
    expect(model.status.httpRoutes).toEqual([]);
    expect(model.status.grpcRoutes[0]).toMatchObject({ kind: 'GRPCRoute', namespace: 'shop', name: 'orders' });
    expect(model.status.gateways[0]!.status.listeners[0]!.supportedKinds.map((k) => k.kind)).toEqual(['HTTPRoute', 'GRPCRoute']);
  });

  it('a backendRef to another namespace needs a ReferenceGrant there (RefNotPermitted until one allows it)', async () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: portal, namespace: portal }
spec:
  parentRefs: [{ name: edge, namespace: shop }]
  rules: [{ backendRefs: [{ name: orders, namespace: shop, port: 8080 }] }]
`;
    const openGateway = gateway.replace('{ name: web, port: 8080, protocol: HTTP }', '{ name: web, port: 8080, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }');
    const grant = (fromNamespace: string) => `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: portal-to-orders, namespace: shop }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${fromNamespace} }]
  to: [{ group: "", kind: Service, name: orders }]
`;
    const resolvedRefs = async (files: Record<string, string>) => {
      const { result } = await load({ 'mesh.yaml': ordersService, 'class.yaml': gatewayClass, 'gateway.yaml': openGateway, 'route.yaml': route, ...files });
      if (!result.ok) throw new Error(result.issues.map(formatConfigIssue).join('\n'));
      const model = result.snapshot.gateway!;
      return { condition: model.status.httpRoutes[0]!.status.parents[0]!.conditions.find((c) => c.type === 'ResolvedRefs')!, backends: model.gateways.get('shop/edge')!.listeners[0]!.virtualHosts[0]!.routes[0]!.backends };
    };
    expect(await resolvedRefs({})).toMatchObject({ condition: { status: 'False', reason: 'RefNotPermitted' }, backends: [] });
    expect(await resolvedRefs({ 'grant.yaml': grant('elsewhere') })).toMatchObject({ condition: { status: 'False', reason: 'RefNotPermitted' } });
    expect(await resolvedRefs({ 'grant.yaml': grant('portal') })).toMatchObject({ condition: { status: 'True' }, backends: [{ host: 'orders.shop.svc.cluster.local', port: 8080, weight: 1 }] });
  });
});
