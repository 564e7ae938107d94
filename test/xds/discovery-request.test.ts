import fc from 'fast-check';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { lookupEnvoyType } from '../../control-plane/envoy/proto-registry.js';
import { discoveryRequestDecoder } from '../../control-plane/xds/discovery-request.js';

const type = lookupEnvoyType('envoy.service.discovery.v3.DiscoveryRequest');
const decode = discoveryRequestDecoder(type);
const plain = (message: unknown) => type.toObject(type.fromObject(message as Record<string, unknown>), { defaults: false });

describe('DiscoveryRequest decoding with lazily decoded resource names', () => {
  it('gives the same request as a full decode, for any request', () => {
    const request = fc.record(
      {
        version_info: fc.string(),
        node: fc.record({ id: fc.string({ minLength: 1 }), cluster: fc.string() }),
        resource_names: fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 40 }),
        type_url: fc.constantFrom('type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration'),
        response_nonce: fc.string(),
        error_detail: fc.record({ code: fc.integer({ min: 0, max: 16 }), message: fc.string() }),
      },
      { requiredKeys: ['type_url'] },
    );
    fc.assert(
      fc.property(request, (message) => {
        const bytes = Buffer.from(type.encode(type.fromObject(message)).finish());
        const ours = decode(bytes);
        const theirs = type.decode(bytes) as unknown as { resource_names: string[] };
        expect(ours.resource_names).toEqual(theirs.resource_names);
        expect(plain({ ...ours, resource_names: ours.resource_names })).toEqual(plain(theirs));
        // The raw names are exactly the field's entries: re-decoding them alone gives the names.
        expect((type.decode(ours.resourceNamesBytes!) as unknown as { resource_names: string[] }).resource_names).toEqual(theirs.resource_names);
      }),
      { numRuns: 300 },
    );
  });

  it('falls back to a full decode when the names are not contiguous (legal, though no encoder writes it)', () => {
    const writer = new BinaryWriter();
    writer.tag(3, 2).string('a');
    writer.tag(4, 2).string('type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment');
    writer.tag(3, 2).string('b');
    const request = decode(Buffer.from(writer.finish()));
    expect(request.resource_names).toEqual(['a', 'b']);
    expect(request.resourceNamesBytes).toBeUndefined();
  });

  it('refuses a truncated message as a full decode does', () => {
    const bytes = Buffer.from(type.encode(type.fromObject({ resource_names: ['abc', 'def'], type_url: 't' })).finish());
    expect(() => decode(bytes.subarray(0, bytes.length - 2))).toThrow();
  });
});
