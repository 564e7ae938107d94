/**
 * The xDS gRPC server: ADS state-of-the-world and delta on one port, TLS or
 * mutual TLS when configured, keepalive and max-connection-age so proxies
 * rebalance across replicas, and a graceful shutdown that ends every stream.
 */
import { readFile } from 'node:fs/promises';
import { format } from 'node:util';
import { createSecureContext } from 'node:tls';
import { experimental, Server, ServerCredentials, setLogger as setGrpcLogger, type ServerDuplexStream, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { lookupEnvoyType } from '../envoy/proto-registry.js';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { XdsCache } from './cache.js';
import type { ConnectionRegistry } from './connections.js';
import { DeltaStream, type DeltaDiscoveryRequestMessage } from './delta-stream.js';
import type { ControlPlaneMetrics } from './metrics.js';
import { SotwStream, type DiscoveryRequestMessage } from './sotw-stream.js';
import { discoveryRequestDecoder } from './discovery-request.js';
import type { StreamContext } from './stream-context.js';
import { defaultTrustDomain } from './proxy-authentication.js';
import type { SecretServing } from './secret-discovery.js';
import { checkStreamCount, defaultXdsLimits, endWithStatus, XdsStreamRefusal, type XdsLimits } from './stream-limits.js';

/** The xDS port could not be served (certificate unreadable, port in use): start-up fails with this. */
export class XdsStartError extends SluiceError {}

export interface XdsTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle for client certificates; when set, every proxy must present one with a SPIFFE ID. */
  readonly clientCaFile?: string;
  /** The trust domain of client certificates' SPIFFE IDs (default `cluster.local`); others are refused. */
  readonly trustDomain?: string;
  /**
   * Re-read the files this often and serve what they hold to new connections
   * (a Secret volume is updated in place when the certificate is renewed).
   * Unset: read once at start.
   */
  readonly reloadIntervalMs?: number;
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
  /** Stream and subscription budgets (defaults: 10,000 streams, 10,000 names per type per stream). */
  readonly limits?: Partial<XdsLimits>;
  /** Serve workload certificates over SDS (the mesh CA). */
  readonly secrets?: SecretServing;
}

/** A PEM file the TLS set-up needs, or a start-up error naming the flag and the file. */
async function pemFile(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new XdsStartError('xds-tls-read', `cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { file }, { cause: error });
  }
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
      requestDeserialize: discoveryRequestDecoder(lookupEnvoyType('envoy.service.discovery.v3.DiscoveryRequest')),
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
      trustDomain: options.tls?.trustDomain ?? defaultTrustDomain,
      limits: { ...defaultXdsLimits, ...options.limits },
      ...(options.secrets ? { secrets: options.secrets } : {}),
      openStreams: new Set(),
    };
    this.#server.addService(adsDefinition(), {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequestMessage, Buffer>) => this.#admit(call) && new SotwStream(call, this.#context),
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequestMessage, Buffer>) => this.#admit(call) && new DeltaStream(call, this.#context),
    });
    for (const service of additional) this.#server.addService(service.definition, service.implementation);
  }

  get port(): number {
    return this.#port;
  }

  /** Streams held now (identified or not), against `limits.maxStreams`. */
  get openStreams(): number {
    return this.#context.openStreams.size;
  }

  #refusedSinceWarning = 0;
  #lastLimitWarning = 0;

  /**
   * Refuse a stream beyond the stream budget before it holds anything; the
   * streams already open are untouched. Warned at most every 10 s (a flood of
   * refusals must not become a flood of log lines); every one is counted.
   */
  #admit(call: ServerDuplexStream<unknown, Buffer>): boolean {
    try {
      checkStreamCount(this.#context.openStreams.size, this.#context.limits);
      return true;
    } catch (error) {
      if (!(error instanceof XdsStreamRefusal)) throw error;
      this.#context.metrics.refusedStreams.inc({ reason: error.reason });
      this.#refusedSinceWarning++;
      const now = Date.now();
      if (now - this.#lastLimitWarning >= 10_000) {
        this.#context.logger.warn({ limit: this.#context.limits.maxStreams, refused: this.#refusedSinceWarning, peer: call.getPeer() }, 'xDS stream limit reached: new streams are refused with RESOURCE_EXHAUSTED');
        this.#lastLimitWarning = now;
        this.#refusedSinceWarning = 0;
      }
      endWithStatus(call as ServerDuplexStream<unknown, unknown>, error.grpcCode, error.message);
      return false;
    }
  }

  async start(): Promise<number> {
    // grpc-js prints its own errors to stderr ("E No address added…"); keep them in the structured log instead.
    const grpcLogger = this.#context.logger.child({ library: 'grpc-js' });
    setGrpcLogger({ error: (...args: unknown[]) => grpcLogger.warn(format(...args)) });
    const credentials = await this.#credentials();
    const host = this.options.host ?? '0.0.0.0';
    const address = `${host.includes(':') ? `[${host}]` : host}:${this.options.port}`;
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, credentials, (error, port) =>
        error ? reject(new XdsStartError('xds-listen', `cannot serve xDS on ${address}: ${error.message} (is the port in use? see --xds-port)`, { address }, { cause: error })) : resolve(port),
      );
    });
    if (!this.options.tls) {
      this.#context.logger.warn({ port: this.#port }, 'xDS is served in plaintext: anyone who reaches this port can read the mesh topology. Use --xds-tls-cert/--xds-tls-key (and --xds-client-ca) outside local use.');
    } else {
      this.#context.logger.info({ port: this.#port, clientCertificates: this.#context.requireClientCertificate, trustDomain: this.#context.trustDomain }, 'xDS served over TLS');
    }
    return this.#port;
  }

  async #credentials(): Promise<ServerCredentials> {
    const tls = this.options.tls;
    if (!tls) return ServerCredentials.createInsecure();
    const [cert, key, ca] = await Promise.all([pemFile('--xds-tls-cert', tls.certFile), pemFile('--xds-tls-key', tls.keyFile), tls.clientCaFile ? pemFile('--xds-client-ca', tls.clientCaFile) : Promise.resolve(null)]);
    try {
      // Parse them now: grpc-js would otherwise only fail at the first TLS handshake, long after start-up said "ready".
      createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
      if (tls.reloadIntervalMs === undefined) return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], Boolean(ca));
      // grpc-js watches the files and gives new connections what they hold now.
      const identity = new experimental.FileWatcherCertificateProvider({ certificateFile: tls.certFile, privateKeyFile: tls.keyFile, refreshIntervalMs: tls.reloadIntervalMs });
      const clientCa = tls.clientCaFile ? new experimental.FileWatcherCertificateProvider({ caCertificateFile: tls.clientCaFile, refreshIntervalMs: tls.reloadIntervalMs }) : null;
      // grpc-js 1.14 declares (ca, identity) but hands its arguments to a constructor taking (identity, ca):
      // passed in the order that works (test/xds/tls-reload.test.ts and tls.test.ts break if that changes).
      return experimental.createCertificateProviderServerCredentials(identity, clientCa, Boolean(ca));
    } catch (error) {
      const files = [tls.certFile, tls.keyFile, tls.clientCaFile].filter(Boolean).join(', ');
      throw new XdsStartError('xds-tls', `the xDS TLS certificate, key or CA (${files}) cannot be used: ${(error as Error).message}`, { files }, { cause: error });
    }
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
