/**
 * A simulated Envoy sidecar for the serve-path benchmark, lean enough to run
 * thousands per worker process. It subscribes the way Envoy does: CDS and LDS
 * wildcard, EDS for the EDS clusters CDS gave it (by `service_name` when set),
 * RDS for the route tables its listeners name; it ACKs every response, over
 * state of the world (one stream, full lists) or delta (names subscribed and
 * unsubscribed as CDS/LDS change). It counts the bytes of every response it
 * receives, and reports when a watched change arrives.
 *
 * Envoy's own data (cluster → EDS name, listener → RDS names) is derived from
 * the received resources. Proxies of one scope receive identical resources, so
 * what is derived is cached by content version and shared (that is the
 * simulator's economy, not a change in what each proxy asks for).
 */
import { createHash } from 'node:crypto';
import { credentials, makeGenericClientConstructor, type ClientDuplexStream } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { findEnvoyType, lookupEnvoyType, typeNameOfUrl } from '../../control-plane/envoy/proto-registry.js';

export const sidecarTypeUrls = {
  clusters: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listeners: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routes: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;

const typeKinds = new Map<string, string>(Object.entries(sidecarTypeUrls).map(([kind, url]) => [url, kind]));

export type XdsProtocol = 'sotw' | 'delta';

export interface SidecarIdentity {
  readonly nodeId: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** What a proxy reports once it has the change: when it got it (epoch ms, after the ACK was written). */
export interface ChangeWatch {
  readonly typeUrl: string;
  /** Bytes that only the changed resource holds (e.g. a new endpoint's address); none: any response of the type. */
  readonly marker?: Buffer;
}

interface Any {
  type_url: string;
  value: Uint8Array;
}

const EDS_DISCOVERY_TYPE = 3;
const now = () => performance.timeOrigin + performance.now();

/** The EDS name of one Cluster (its eds_cluster_config.service_name, else its name), or undefined if not an EDS cluster. Reads only the fields Envoy needs. */
function edsNameOfCluster(bytes: Uint8Array): string | undefined {
  const reader = protobuf.Reader.create(bytes);
  let name = '';
  let serviceName = '';
  let type = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) name = reader.string();
    else if (field === 2) type = reader.int32();
    else if (field === 3) {
      const end = reader.uint32() + reader.pos;
      while (reader.pos < end) {
        const inner = reader.uint32();
        if (inner >>> 3 === 2) serviceName = reader.string();
        else reader.skipType(inner & 7);
      }
    } else reader.skipType(tag & 7);
  }
  return type === EDS_DISCOVERY_TYPE ? serviceName || name : undefined;
}

/** Route table names a Listener asks RDS for (HttpConnectionManager `rds.route_config_name`, wherever it sits, Any payloads opened). */
function rdsNamesOfListener(bytes: Uint8Array): string[] {
  const names: string[] = [];
  const walk = (value: unknown): void => {
    if (!value || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    const record = value as Record<string, unknown>;
    if (typeof record.type_url === 'string' && ArrayBuffer.isView(record.value)) {
      const type = findEnvoyType(typeNameOfUrl(record.type_url));
      if (type) walk(type.decode(record.value as Uint8Array));
      return;
    }
    for (const [key, inner] of Object.entries(record)) {
      if (key === 'route_config_name' && typeof inner === 'string') names.push(inner);
      else walk(inner);
    }
  };
  walk(lookupEnvoyType('envoy.config.listener.v3.Listener').decode(bytes));
  return names;
}

/**
 * node.metadata as a google.protobuf.Struct for protobufjs (which has no JSON
 * mapping for it). The well-known types may be loaded with camelCase or
 * proto field names depending on the loader, so the names are looked up.
 */
function struct(json: Record<string, unknown>): unknown {
  const fields = lookupEnvoyType('google.protobuf.Value').fields;
  const name = (snake: string) => (fields[snake] ? snake : snake.replace(/_(.)/g, (_, c: string) => c.toUpperCase()));
  const value = (v: unknown): unknown =>
    typeof v === 'string' ? { [name('string_value')]: v } : typeof v === 'number' ? { [name('number_value')]: v } : typeof v === 'boolean' ? { [name('bool_value')]: v } : v && typeof v === 'object' ? { [name('struct_value')]: struct(v as Record<string, unknown>) } : { [name('null_value')]: 0 };
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, value(v)])) };
}

/** Derived data, shared between proxies that received the same content. */
const derivedCache = new Map<string, readonly string[]>();
function derived(key: string, compute: () => string[]): readonly string[] {
  let value = derivedCache.get(key);
  if (!value) {
    value = Object.freeze([...new Set(compute())].sort());
    derivedCache.set(key, value);
  }
  return value;
}

const sameList = (a: readonly string[], b: readonly string[]) => a === b || (a.length === b.length && a.every((x, i) => x === b[i]));

let codecs: ReturnType<typeof makeCodecs> | undefined;
function makeCodecs() {
  const sotwRequest = lookupEnvoyType('envoy.service.discovery.v3.DiscoveryRequest');
  const sotwResponse = lookupEnvoyType('envoy.service.discovery.v3.DiscoveryResponse');
  const deltaRequest = lookupEnvoyType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  const deltaResponse = lookupEnvoyType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const passThrough = (b: Buffer) => b;
  const method = (name: string, request: protobuf.Type) => ({
    path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (fields: Record<string, unknown>) => Buffer.from(request.encode(request.create(fields)).finish()),
    // Raw bytes: counted and searched before decoding.
    responseDeserialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
  });
  const Client = makeGenericClientConstructor({ StreamAggregatedResources: method('StreamAggregatedResources', sotwRequest), DeltaAggregatedResources: method('DeltaAggregatedResources', deltaRequest) } as never, 'Ads');
  return { Client, sotwResponse, deltaResponse };
}

/** One simulated sidecar. */
export class SimulatedSidecar {
  /** Bytes of every response received (gRPC message bytes, without framing). */
  bytes = 0;
  responses = 0;
  /** The same bytes by resource type (short name: clusters, endpoints, listeners, routes). */
  bytesByType: Record<string, number> = {};
  /** The watched change: when it arrived, or undefined. */
  changedAt?: number;
  #watch?: ChangeWatch;
  #onChange?: () => void;
  readonly #stream: ClientDuplexStream<Record<string, unknown>, Buffer>;
  readonly #client: { close(): void };
  #nodeSent = false;
  #edsNames: readonly string[] = [];
  #rdsNames: readonly string[] = [];
  /** Delta: the proxy's clusters and listeners (name → version and derived names). */
  readonly #deltaClusters = new Map<string, string | undefined>();
  readonly #deltaListeners = new Map<string, readonly string[]>();
  readonly #pendingTypes = new Set<string>(Object.values(sidecarTypeUrls));
  #synced?: () => void;
  #failed?: (error: Error) => void;
  error?: Error;

  constructor(
    address: string,
    private readonly identity: SidecarIdentity,
    private readonly protocol: XdsProtocol,
  ) {
    codecs ??= makeCodecs();
    const client = new codecs.Client(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.use_local_subchannel_pool': 1 });
    this.#client = client as unknown as { close(): void };
    const method = protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    this.#stream = (client as unknown as Record<string, () => ClientDuplexStream<Record<string, unknown>, Buffer>>)[method]!();
    this.#stream.on('data', (raw: Buffer) => this.#receive(raw));
    this.#stream.on('error', (error: Error) => this.#fail(error));
    this.#stream.on('end', () => this.#fail(new Error('stream ended by the server')));
  }

  /** Subscribe CDS and LDS (wildcard); EDS and RDS follow from what they return. Resolves when all four types have arrived. */
  start(): Promise<void> {
    const synced = new Promise<void>((resolve, reject) => {
      this.#synced = resolve;
      this.#failed = reject;
    });
    this.#request(sidecarTypeUrls.clusters, { names: [] });
    this.#request(sidecarTypeUrls.listeners, { names: [] });
    return synced;
  }

  /** What it subscribes to, as derived from CDS and LDS. */
  get subscriptions(): { endpoints: readonly string[]; routes: readonly string[] } {
    return { endpoints: this.#edsNames, routes: this.#rdsNames };
  }

  watch(watch: ChangeWatch, onChange: () => void): void {
    this.#watch = watch;
    this.#onChange = onChange;
    this.changedAt = undefined;
    this.bytes = 0;
    this.responses = 0;
    this.bytesByType = {};
  }

  close(): void {
    this.#stream.cancel();
    this.#client.close();
  }

  #fail(error: Error): void {
    this.error ??= error;
    this.#failed?.(error);
  }

  #node(): unknown {
    if (this.#nodeSent) return undefined;
    this.#nodeSent = true;
    const Node = lookupEnvoyType('envoy.config.core.v3.Node');
    return Node.fromObject({ id: this.identity.nodeId, metadata: struct({ namespace: this.identity.namespace, labels: this.identity.labels, mode: 'sidecar' }) });
  }

  #request(typeUrl: string, fields: { names?: readonly string[]; version?: string; nonce?: string; subscribe?: readonly string[]; unsubscribe?: readonly string[] }): void {
    const request: Record<string, unknown> =
      this.protocol === 'sotw'
        ? { type_url: typeUrl, resource_names: fields.names ?? [], version_info: fields.version ?? '', response_nonce: fields.nonce ?? '' }
        : { type_url: typeUrl, resource_names_subscribe: fields.subscribe ?? [], resource_names_unsubscribe: fields.unsubscribe ?? [], response_nonce: fields.nonce ?? '' };
    const node = this.#node();
    if (node) request.node = node;
    this.#stream.write(request);
  }

  #receive(raw: Buffer): void {
    this.bytes += raw.length;
    this.responses++;
    const typeUrl = this.protocol === 'sotw' ? this.#receiveSotw(raw) : this.#receiveDelta(raw);
    const kind = typeKinds.get(typeUrl) ?? typeUrl;
    this.bytesByType[kind] = (this.bytesByType[kind] ?? 0) + raw.length;
    if (this.#pendingTypes.delete(typeUrl) && this.#pendingTypes.size === 0) this.#synced?.();
    const watch = this.#watch;
    if (watch && this.changedAt === undefined && typeUrl === watch.typeUrl && (!watch.marker || raw.includes(watch.marker))) {
      this.changedAt = now();
      this.#onChange?.();
    }
  }

  #receiveSotw(raw: Buffer): string {
    const response = codecs!.sotwResponse.decode(raw) as unknown as { version_info: string; nonce: string; type_url: string; resources: Any[] };
    const { type_url: typeUrl, version_info: version, nonce } = response;
    const key = `${typeUrl}|${version}|${response.resources.length}`;
    if (typeUrl === sidecarTypeUrls.clusters) {
      const eds = derived(key, () => response.resources.map((r) => edsNameOfCluster(r.value)).filter((n): n is string => n !== undefined));
      this.#request(typeUrl, { names: [], version, nonce });
      if (!sameList(eds, this.#edsNames)) {
        this.#edsNames = eds;
        this.#request(sidecarTypeUrls.endpoints, { names: eds });
      }
    } else if (typeUrl === sidecarTypeUrls.listeners) {
      const rds = derived(key, () => response.resources.flatMap((r) => rdsNamesOfListener(r.value)));
      this.#request(typeUrl, { names: [], version, nonce });
      if (!sameList(rds, this.#rdsNames)) {
        this.#rdsNames = rds;
        this.#request(sidecarTypeUrls.routes, { names: rds });
      }
    } else if (typeUrl === sidecarTypeUrls.endpoints) {
      this.#request(typeUrl, { names: this.#edsNames, version, nonce });
    } else if (typeUrl === sidecarTypeUrls.routes) {
      this.#request(typeUrl, { names: this.#rdsNames, version, nonce });
    }
    return typeUrl;
  }

  #receiveDelta(raw: Buffer): string {
    const response = codecs!.deltaResponse.decode(raw) as unknown as { type_url: string; nonce: string; resources: Array<{ name: string; version: string; resource?: Any }>; removed_resources: string[] };
    const { type_url: typeUrl, nonce } = response;
    if (typeUrl === sidecarTypeUrls.clusters || typeUrl === sidecarTypeUrls.listeners) {
      const clusters = typeUrl === sidecarTypeUrls.clusters;
      for (const name of response.removed_resources) (clusters ? this.#deltaClusters : this.#deltaListeners).delete(name);
      for (const r of response.resources) {
        const key = `${typeUrl}|${r.name}|${r.version}`;
        if (clusters) this.#deltaClusters.set(r.name, derived(key, () => { const n = r.resource ? edsNameOfCluster(r.resource.value) : undefined; return n === undefined ? [] : [n]; })[0]);
        else this.#deltaListeners.set(r.name, derived(key, () => (r.resource ? rdsNamesOfListener(r.resource.value) : [])));
      }
      this.#request(typeUrl, { nonce });
      const wanted = clusters ? [...this.#deltaClusters.values()].filter((n): n is string => n !== undefined) : [...this.#deltaListeners.values()].flat();
      const before = new Set(clusters ? this.#edsNames : this.#rdsNames);
      const after = new Set(wanted);
      const subscribe = [...after].filter((n) => !before.has(n));
      const unsubscribe = [...before].filter((n) => !after.has(n));
      if (subscribe.length > 0 || unsubscribe.length > 0) {
        // Shared where equal, so thousands of proxies of one scope hold one list.
        const digest = createHash('sha1');
        for (const name of [...after].sort()) digest.update(`${name.length}:${name}`);
        const list = derived(`${typeUrl}|names|${digest.digest('hex')}`, () => [...after]);
        if (clusters) this.#edsNames = list;
        else this.#rdsNames = list;
        this.#request(clusters ? sidecarTypeUrls.endpoints : sidecarTypeUrls.routes, { subscribe, unsubscribe });
      }
    } else {
      this.#request(typeUrl, { nonce });
    }
    return typeUrl;
  }
}
