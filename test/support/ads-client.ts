/**
 * A raw ADS client for tests and benchmarks: speaks state-of-the-world and
 * delta xDS with @grpc/grpc-js and Envoy's protos, so tests can drive protocol
 * cases a real client hides (NACKs, stale nonces, reconnect with versions).
 */
import { credentials as grpcCredentials, makeGenericClientConstructor, Metadata, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { decodeToJson, encodeResource } from '../../control-plane/envoy/codec.js';
import { lookupEnvoyType, typeNameOfUrl } from '../../control-plane/envoy/proto-registry.js';

export const typeUrls = {
  listeners: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routes: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  clusters: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;

export interface SotwResponse {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: Array<Record<string, unknown>>;
}

export interface DeltaResponse {
  system_version_info: string;
  nonce: string;
  type_url: string;
  resources: Array<{ name: string; version: string; resource: Record<string, unknown> }>;
  removed_resources: string[];
}

interface Options {
  nodeId: string;
  metadata?: Record<string, unknown>;
  credentials?: ChannelCredentials;
  /** Extra gRPC channel options, e.g. `grpc.ssl_target_name_override` to verify a certificate for a Service name. */
  channelOptions?: Record<string, string | number>;
  /** Decode resources (tests) or keep them as bytes (benchmarks). */
  decode?: boolean;
  /** Send the first request without a node (hostile-input tests). */
  omitNode?: boolean;
  /** gRPC call metadata of the stream (e.g. `authorization: Bearer <service-account token>`). */
  callMetadata?: Record<string, string>;
}

const service = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

function codec(requestType: string, responseType: string) {
  const request = lookupEnvoyType(requestType);
  const response = lookupEnvoyType(responseType);
  return {
    // Requests are built as protobufjs messages (snake_case fields): cheap enough for thousands of simulated proxies.
    requestSerialize: (fields: Record<string, unknown>) => Buffer.from(request.encode(request.create(fields)).finish()),
    responseDeserialize: (bytes: Buffer) => response.decode(bytes),
  };
}

const statusType = () => lookupEnvoyType('google.rpc.Status');

abstract class AdsStream<Response> {
  protected readonly queue: Response[] = [];
  protected readonly waiters: Array<{ resolve: (r: Response) => void; reject: (e: Error) => void; match: (r: Response) => boolean }> = [];
  protected readonly stream: ClientDuplexStream<Record<string, unknown>, unknown>;
  protected firstRequest = true;
  closed?: Error;
  received = 0;

  protected constructor(address: string, method: 'StreamAggregatedResources' | 'DeltaAggregatedResources', protected readonly options: Options, requestType: string, responseType: string) {
    const { requestSerialize, responseDeserialize } = codec(requestType, responseType);
    const Client = makeGenericClientConstructor(
      { [method]: { path: `/${service}/${method}`, requestStream: true, responseStream: true, requestSerialize, responseDeserialize, requestDeserialize: () => ({}), responseSerialize: () => Buffer.alloc(0) } } as never,
      'Ads',
    );
    // A connection of its own per client, as each real proxy has.
    const client = new Client(address, options.credentials ?? grpcCredentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.use_local_subchannel_pool': 1, ...options.channelOptions });
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(options.callMetadata ?? {})) metadata.set(key, value);
    this.stream = (client as unknown as Record<string, (metadata: Metadata) => ClientDuplexStream<Record<string, unknown>, unknown>>)[method]!(metadata);
    this.stream.on('data', (message: unknown) => {
      this.received++;
      this.deliver(this.convert(message as Record<string, unknown>));
    });
    this.stream.on('error', (error: Error) => this.fail(error));
    this.stream.on('end', () => this.fail(new Error('stream ended by the server')));
    this.client = client as { close(): void };
  }

  private readonly client: { close(): void };

  protected abstract convert(message: Record<string, unknown>): Response;

  protected node(): unknown {
    if (!this.firstRequest) return undefined;
    this.firstRequest = false;
    if (this.options.omitNode) return undefined;
    // Encoded by the codec, decoded into the protobufjs shape the request serializer takes.
    return lookupEnvoyType('envoy.config.core.v3.Node').decode(encodeResource('envoy.config.core.v3.Node', { id: this.options.nodeId, metadata: this.options.metadata ?? {} }));
  }

  private deliver(response: Response): void {
    const index = this.waiters.findIndex((w) => w.match(response));
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(response);
    else this.queue.push(response);
  }

  private fail(error: Error): void {
    this.closed ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  /** The next response matching `match` (already received or future). */
  next(match: (r: Response) => boolean = () => true, timeoutMs = 5_000): Promise<Response> {
    const index = this.queue.findIndex(match);
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]!);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<Response>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (r: Response) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no matching xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Responses received and not yet taken. */
  pending(): Response[] {
    return [...this.queue];
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

function decodeAny(any: { type_url: string; value: Uint8Array }, decode: boolean): Record<string, unknown> {
  if (!decode) return { type_url: any.type_url, bytes: any.value.length };
  return decodeToJson(typeNameOfUrl(any.type_url), any.value) as Record<string, unknown>;
}

export class SotwClient extends AdsStream<SotwResponse> {
  constructor(address: string, options: Options) {
    super(address, 'StreamAggregatedResources', options, 'envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse');
  }

  protected convert(message: Record<string, unknown>): SotwResponse {
    const resources = (message.resources as Array<{ type_url: string; value: Uint8Array }>) ?? [];
    return {
      version_info: String(message.version_info ?? ''),
      nonce: String(message.nonce ?? ''),
      type_url: String(message.type_url ?? ''),
      resources: resources.map((any) => decodeAny(any, this.options.decode ?? true)),
    };
  }

  request(typeUrl: string, names: string[] = [], previous?: { version_info: string; nonce: string }, errorMessage?: string): void {
    const request: Record<string, unknown> = { type_url: typeUrl, resource_names: names, version_info: previous?.version_info ?? '', response_nonce: previous?.nonce ?? '' };
    const node = this.node();
    if (node) request.node = node;
    if (errorMessage) request.error_detail = statusType().create({ code: 3, message: errorMessage });
    this.stream.write(request);
  }

  ack(response: SotwResponse, names: string[] = []): void {
    this.request(response.type_url, names, response);
  }

  /** Reject `response`, keeping `kept` (the version last accepted) as version_info, as Envoy does. */
  nack(response: SotwResponse, message: string, kept = '', names: string[] = []): void {
    this.request(response.type_url, names, { version_info: kept, nonce: response.nonce }, message);
  }

  nextOf(typeUrl: string, timeoutMs?: number): Promise<SotwResponse> {
    return this.next((r) => r.type_url === typeUrl, timeoutMs);
  }
}

export class DeltaClient extends AdsStream<DeltaResponse> {
  constructor(address: string, options: Options) {
    super(address, 'DeltaAggregatedResources', options, 'envoy.service.discovery.v3.DeltaDiscoveryRequest', 'envoy.service.discovery.v3.DeltaDiscoveryResponse');
  }

  protected convert(message: Record<string, unknown>): DeltaResponse {
    const resources = (message.resources as Array<{ name: string; version: string; resource: { type_url: string; value: Uint8Array } }>) ?? [];
    return {
      system_version_info: String(message.system_version_info ?? ''),
      nonce: String(message.nonce ?? ''),
      type_url: String(message.type_url ?? ''),
      resources: resources.map((r) => ({ name: r.name, version: r.version, resource: decodeAny(r.resource, this.options.decode ?? true) })),
      removed_resources: [...((message.removed_resources as string[]) ?? [])],
    };
  }

  request(fields: { typeUrl: string; subscribe?: string[]; unsubscribe?: string[]; initialVersions?: Record<string, string>; nonce?: string; errorMessage?: string }): void {
    const request: Record<string, unknown> = {
      type_url: fields.typeUrl,
      resource_names_subscribe: fields.subscribe ?? [],
      resource_names_unsubscribe: fields.unsubscribe ?? [],
      initial_resource_versions: fields.initialVersions ?? {},
      response_nonce: fields.nonce ?? '',
    };
    const node = this.node();
    if (node) request.node = node;
    if (fields.errorMessage) request.error_detail = statusType().create({ code: 3, message: fields.errorMessage });
    this.stream.write(request);
  }

  ack(response: DeltaResponse): void {
    this.request({ typeUrl: response.type_url, nonce: response.nonce });
  }

  nextOf(typeUrl: string, timeoutMs?: number): Promise<DeltaResponse> {
    return this.next((r) => r.type_url === typeUrl, timeoutMs);
  }
}
