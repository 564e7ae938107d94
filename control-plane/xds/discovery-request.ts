/**
 * Decoding state-of-the-world DiscoveryRequests cheaply on the hot path.
 *
 * Every ACK repeats the proxy's whole subscription: a sidecar's EDS ACK names
 * every cluster of the mesh (1,500 at 5,000 proxies), and every proxy ACKs
 * every push. Decoding those names into strings, and comparing them with the
 * held set, cost more than anything else per proxy per change. So the names'
 * bytes are located without decoding them (the reader only skips), the rest
 * of the request is decoded as usual, and the names are decoded only if
 * someone reads them — the stream compares the raw bytes with those of the
 * subscription it holds first (sotw-stream.ts).
 *
 * The scan uses protobufjs' Reader (the Envoy protos' own decoder), whose
 * skipType walks the wire format with its bounds checks and allocates
 * nothing; a hand-written scanner would only repeat it.
 */
import protobuf from 'protobufjs';

/** DiscoveryRequest.resource_names (envoy/service/discovery/v3/discovery.proto). */
const resourceNamesField = 3;

export interface DiscoveryRequestMessage {
  version_info?: string;
  node?: unknown;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
  /** The encoded resource_names entries, as received (absent when the request was not decoded from bytes). */
  readonly resourceNamesBytes?: Uint8Array;
}

/** Where the resource_names entries lie, when they are contiguous (every protobuf encoder writes a repeated field's entries together). */
function namesSpan(bytes: Uint8Array): { start: number; end: number } | undefined {
  const reader = protobuf.Reader.create(bytes);
  let start = -1;
  let end = -1;
  while (reader.pos < reader.len) {
    const fieldStart = reader.pos;
    const tag = reader.uint32();
    reader.skipType(tag & 7);
    if (tag >>> 3 !== resourceNamesField) continue;
    if (start < 0) start = fieldStart;
    else if (end !== fieldStart) return undefined;
    end = reader.pos;
  }
  return start < 0 ? { start: 0, end: 0 } : { start, end };
}

/** A DiscoveryRequest decoder whose resource_names are decoded on first read. */
export function discoveryRequestDecoder(type: protobuf.Type): (bytes: Buffer) => DiscoveryRequestMessage {
  return (bytes) => {
    const span = namesSpan(bytes);
    if (!span) return type.decode(bytes) as unknown as DiscoveryRequestMessage;
    const rest = span.end === span.start ? bytes : Buffer.concat([bytes.subarray(0, span.start), bytes.subarray(span.end)]);
    const request = type.decode(rest) as unknown as DiscoveryRequestMessage;
    const namesBytes = bytes.subarray(span.start, span.end);
    let names: string[] | undefined;
    Object.defineProperty(request, 'resource_names', {
      enumerable: true,
      get: () => (names ??= namesBytes.length === 0 ? [] : ((type.decode(namesBytes) as unknown as { resource_names: string[] }).resource_names)),
    });
    Object.defineProperty(request, 'resourceNamesBytes', { value: namesBytes, enumerable: false });
    return request;
  };
}
