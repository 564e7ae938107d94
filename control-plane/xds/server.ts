/**
 * The xDS gRPC server: ADS state-of-the-world and delta on one port, TLS or
 * mutual TLS when configured, keepalive and max-connection-age so proxies
 * rebalance across replicas, and a graceful shutdown that ends every stream.
 */
import { readFile } from 'node:fs/promises';
import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { lookupEnvoyType } from '../envoy/proto-registry.js';
import type { Logger } from '../log/logger.js';
import type { XdsCache } from './cache.js';
import type { ConnectionRegistry } from './connections.js';
import { DeltaStream, type DeltaDiscoveryRequestMessage } from './delta-stream.js';
import type { ControlPlaneMetrics } from './metrics.js';
import { SotwStream, type DiscoveryRequestMessage } from './sotw-stream.js';
import type { StreamContext } from './stream-context.js';

export interface XdsTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle for client certificates; when set, every proxy must present one with a SPIFFE ID. */
  readonly clientCaFile?: string;
}

export interface XdsServerOptions {
  readonly host?: string;
  readonly port: number;
  readonly tls?: XdsTlsOptions;
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** Close connections after this age so proxies spread over new replicas; streams reconnect. */
  readonly maxConnectionAgeMs?: number;
  readonly maxConnectionAgeGraceMs?: number;
}

/** Extra gRPC services hosted on the xDS port (LRS, the Envoy metrics service…). */
export interface AdditionalService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

const adsService = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

function adsDefinition(): ServiceDefinition {
  const decoder = (typeName: string) => {
    const type = lookupEnvoyType(typeName);
    // Decoded messages keep the protos' snake_case field names, as the streams expect.
    return (bytes: Buffer) => type.decode(bytes) as unknown;
  };
  // Responses are pre-encoded by the cache: serialising is passing the buffer through.
  const passThrough = (value: Buffer) => value;
  return {
    StreamAggregatedResources: {
      path: `/${adsService}/StreamAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestDeserialize: decoder('envoy.service.discovery.v3.DiscoveryRequest'),
      responseSerialize: passThrough,
      requestSerialize: passThrough,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
    DeltaAggregatedResources: {
      path: `/${adsService}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestDeserialize: decoder('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
      responseSerialize: passThrough,
      requestSerialize: passThrough,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  } as ServiceDefinition;
}

export class XdsServer {
  readonly #server: Server;
  readonly #context: StreamContext;
  #port = 0;

  constructor(
    private readonly options: XdsServerOptions,
    deps: { cache: XdsCache; connections: ConnectionRegistry; metrics: ControlPlaneMetrics; logger: Logger },
    additional: readonly AdditionalService[] = [],
  ) {
    this.#server = new Server({
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_connection_age_ms': options.maxConnectionAgeMs ?? 30 * 60_000,
      'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs ?? 60_000,
      // Route tables of a large mesh exceed gRPC's 4 MiB default.
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    });
    this.#context = {
      cache: deps.cache,
      connections: deps.connections,
      metrics: deps.metrics,
      logger: deps.logger,
      requireClientCertificate: Boolean(options.tls?.clientCaFile),
      openStreams: new Set(),
    };
    this.#server.addService(adsDefinition(), {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequestMessage, Buffer>) => new SotwStream(call, this.#context),
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequestMessage, Buffer>) => new DeltaStream(call, this.#context),
    });
    for (const service of additional) this.#server.addService(service.definition, service.implementation);
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<number> {
    const credentials = await this.#credentials();
    const host = this.options.host ?? '0.0.0.0';
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${this.options.port}`, credentials, (error, port) => (error ? reject(error) : resolve(port)));
    });
    if (!this.options.tls) {
      this.#context.logger.warn({ port: this.#port }, 'xDS is served in plaintext: anyone who reaches this port can read the mesh topology. Use --xds-tls-cert/--xds-tls-key (and --xds-client-ca) outside local use.');
    } else {
      this.#context.logger.info({ port: this.#port, clientCertificates: this.#context.requireClientCertificate }, 'xDS served over TLS');
    }
    return this.#port;
  }

  async #credentials(): Promise<ServerCredentials> {
    const tls = this.options.tls;
    if (!tls) return ServerCredentials.createInsecure();
    const [cert, key, ca] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile), tls.clientCaFile ? readFile(tls.clientCaFile) : Promise.resolve(null)]);
    return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], Boolean(ca));
  }

  /** End every stream (proxies reconnect to another replica), then stop; force after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    for (const stream of [...this.#context.openStreams]) stream.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
