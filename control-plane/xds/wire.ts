/**
 * Discovery responses built from pre-encoded parts. Every resource is encoded
 * once (as a google.protobuf.Any, and as a delta `Resource`); a response is
 * those bytes framed with a few header fields, so fanning one change out to a
 * thousand proxies copies bytes instead of running the protobuf encoder a
 * thousand times. Field numbers are from envoy/service/discovery/v3/discovery.proto.
 */
import protobuf from 'protobufjs';

/** google.protobuf.Any { type_url = 1; value = 2; } */
export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  const writer = protobuf.Writer.create();
  writer.uint32((1 << 3) | 2).string(typeUrl);
  writer.uint32((2 << 3) | 2).bytes(value);
  return Buffer.from(writer.finish());
}

/** A message's own bytes followed by the elements of one repeated message field (`fieldNumber`), each pre-encoded. */
export function encodeComposite(shell: Uint8Array, fieldNumber: number, parts: readonly Uint8Array[]): Buffer {
  const writer = protobuf.Writer.create();
  for (const part of parts) writer.uint32((fieldNumber << 3) | 2).bytes(part);
  return Buffer.concat([shell, writer.finish()]);
}

/** envoy.service.discovery.v3.Resource { version = 1; resource = 2 (Any); name = 3; } */
export function encodeDeltaResource(name: string, version: string, any: Uint8Array): Buffer {
  const writer = protobuf.Writer.create();
  writer.uint32((1 << 3) | 2).string(version);
  writer.uint32((2 << 3) | 2).bytes(any);
  writer.uint32((3 << 3) | 2).string(name);
  return Buffer.from(writer.finish());
}

/**
 * DiscoveryResponse { version_info = 1; resources = 2; type_url = 4; nonce = 5; }
 * The nonce is the version: responses of equal content are interchangeable, so
 * one buffer serves every stream that needs it.
 */
export function encodeDiscoveryResponse(versionInfo: string, typeUrl: string, anys: readonly Uint8Array[], nonce: string = versionInfo): Buffer {
  const writer = protobuf.Writer.create();
  writer.uint32((1 << 3) | 2).string(versionInfo);
  for (const any of anys) writer.uint32((2 << 3) | 2).bytes(any);
  writer.uint32((4 << 3) | 2).string(typeUrl);
  writer.uint32((5 << 3) | 2).string(nonce);
  return Buffer.from(writer.finish());
}

/**
 * DeltaDiscoveryResponse { system_version_info = 1; resources = 2; type_url = 4;
 * nonce = 5; removed_resources = 6; }
 */
export function encodeDeltaDiscoveryResponse(systemVersion: string, typeUrl: string, resources: readonly Uint8Array[], removed: readonly string[], nonce: string): Buffer {
  const writer = protobuf.Writer.create();
  writer.uint32((1 << 3) | 2).string(systemVersion);
  for (const resource of resources) writer.uint32((2 << 3) | 2).bytes(resource);
  writer.uint32((4 << 3) | 2).string(typeUrl);
  writer.uint32((5 << 3) | 2).string(nonce);
  for (const name of removed) writer.uint32((6 << 3) | 2).string(name);
  return Buffer.from(writer.finish());
}
