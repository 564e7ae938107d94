/**
 * No silent withdrawal: a resource that fails Envoy's rules (a value the
 * policy schema should have refused, or a translation bug) keeps its last good
 * version in the cache, and the cache names it for /readyz.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../control-plane/log/logger.js';
import { snapshotFromIrDocument, type IrDocument } from '../../control-plane/model/ir-document.js';
import { proxyIdentityFromNode, scopeOf } from '../../control-plane/translate/proxy-scope.js';
import { XdsCache } from '../../control-plane/xds/cache.js';

const mesh = (maxConnections: number): IrDocument => ({
  services: [
    {
      name: 'orders',
      namespace: 'shop',
      ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }],
      endpoints: [{ address: '10.0.0.1', ports: { http: 8080 }, labels: { version: 'v1' }, ready: true, weight: 1 }],
      versions: { v1: { version: 'v1' } },
      traffic: { policy: { kind: 'TrafficPolicy', namespace: 'shop', name: 'orders' }, routes: [], circuitBreaker: { maxConnections } },
    },
  ],
});

describe('a resource that breaks Envoy rules is withheld, never withdrawn', () => {
  it('keeps serving the last good cluster and names it', () => {
    const cache = new XdsCache({ logger: createLogger('silent'), validate: true });
    const good = snapshotFromIrDocument(mesh(100));
    const scope = scopeOf(good, proxyIdentityFromNode('web-0.shop', { labels: { app: 'web' } }));
    const unsubscribe = cache.subscribe(scope, () => {});
    cache.update(good);
    const name = 'outbound|8080||orders.shop.svc.cluster.local';
    const before = cache.view(scope)!.resources.clusters.get(name)!;
    expect(cache.withheld()).toEqual([]);

    // uint32 overflow: Envoy's protos cannot carry it.
    cache.update(snapshotFromIrDocument(mesh(4294967296)));
    const view = cache.view(scope)!;
    expect(view.snapshotVersion).not.toBe(good.version);
    expect(view.resources.clusters.get(name)).toBe(before);
    const withheld = cache.withheld().find((w) => w.name === name);
    expect(withheld).toMatchObject({ kind: 'clusters', servedVersion: before.version, scopes: 1 });
    expect(withheld!.problem).toMatch(/4294967296|max_connections|uint32|range/i);

    // Fixed: the new good version is served and nothing is withheld.
    cache.update(snapshotFromIrDocument(mesh(200)));
    expect(cache.view(scope)!.resources.clusters.get(name)!.version).not.toBe(before.version);
    expect(cache.withheld()).toEqual([]);
    unsubscribe();
  });
});
