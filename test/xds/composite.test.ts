/**
 * Route tables are encoded as a shell plus shared, pre-encoded virtual hosts.
 * The bytes must decode to exactly the table a whole-message encoder would give.
 */
import { describe, expect, it } from 'vitest';
import { decodeToJson, encodeResource } from '../../control-plane/envoy/codec.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { proxyIdentityFromNode, scopeOf } from '../../control-plane/translate/proxy-scope.js';
import { XdsCache } from '../../control-plane/xds/cache.js';
import { meshFiles, snapshotOf } from '../support/generated-mesh.js';

const routeConfiguration = 'envoy.config.route.v3.RouteConfiguration';

describe('composite route tables', () => {
  it('decode to the same RouteConfiguration as encoding the whole table', () => {
    const snapshot = snapshotOf(meshFiles({ services: 12, versions: 2, endpointsPerVersion: 1, namespaces: 3 }));
    const cache = new XdsCache({ logger: createLogger('silent'), validate: true });
    const scopes = ['ns-0', 'ns-1'].map((ns) => scopeOf(snapshot, proxyIdentityFromNode(`client.${ns}`, { labels: { app: 'client' } })));
    for (const scope of scopes) cache.subscribe(scope, () => {});
    cache.update(snapshot);
    for (const scope of scopes) {
      const table = cache.view(scope)!.resources.routes.get('8080')!;
      // The Any's value is the RouteConfiguration: compare decoded composite bytes with the whole-message encoding.
      const whole = encodeResource(routeConfiguration, table.body);
      const composite = anyValue(table.any);
      expect(composite.length).toBe(whole.length);
      expect(decodeToJson(routeConfiguration, composite)).toEqual(decodeToJson(routeConfiguration, whole));
      expect((table.body.virtual_hosts as unknown[]).length).toBe(13); // 12 services + allow_any
    }
  });
});

/** google.protobuf.Any { type_url = 1; value = 2 }: the value's bytes. */
function anyValue(any: Buffer): Buffer {
  let offset = 0;
  const varint = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = any[offset++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
    }
  };
  while (offset < any.length) {
    const tag = varint();
    const length = varint();
    if (tag >> 3 === 2) return any.subarray(offset, offset + length);
    offset += length;
  }
  throw new Error('no value in Any');
}
