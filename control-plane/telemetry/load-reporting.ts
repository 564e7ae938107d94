/**
 * The LRS server (envoy.service.load_stats.v3.LoadReportingService), hosted
 * on the xDS port. Every proxy that opens a stream is told to report all its
 * clusters every `reportIntervalMs`, with endpoint granularity (Envoy honours
 * it; gRPC clients report per locality, see locality-index.ts). Each report
 * holds the requests finished since the previous one, so counts add straight
 * into the telemetry store.
 *
 * gRPC clients only report clusters listed in the response when
 * send_all_clusters is false (and skip the first listed one), so we always
 * set send_all_clusters.
 */
import type { ServerDuplexStream, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { lookupEnvoyType } from '../envoy/proto-registry.js';
import type { Logger } from '../log/logger.js';
import { parseClusterName } from '../translate/cluster-names.js';
import type { AdditionalService } from '../xds/server.js';
import { endpointKey, type LocalityIndex } from './locality-index.js';
import type { TelemetryStore } from './telemetry-store.js';

const serviceName = 'envoy.service.load_stats.v3.LoadReportingService';

type Count = number | { toNumber(): number } | null | undefined;
const num = (value: Count): number => (value === null || value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber());

interface SocketAddress {
  address?: string;
  port_value?: number;
}
interface EndpointStats {
  address?: { socket_address?: SocketAddress };
  total_successful_requests?: Count;
  total_error_requests?: Count;
}
interface LocalityStats {
  locality?: { region?: string; zone?: string; sub_zone?: string };
  total_successful_requests?: Count;
  total_error_requests?: Count;
  upstream_endpoint_stats?: EndpointStats[];
}
interface ClusterStats {
  cluster_name?: string;
  cluster_service_name?: string;
  upstream_locality_stats?: LocalityStats[];
}
export interface LoadStatsRequest {
  node?: { id?: string } | null;
  cluster_stats?: ClusterStats[];
}

/**
 * gRPC C-core sends load reports at most once a second whatever interval it
 * is given, so a shorter interval would make clients disagree: `serve`
 * clamps --lrs-interval to this (tests may still ask for less).
 */
export const minClientLrsIntervalMs = 1000;

/** The interval to ask clients for, and whether the request had to be raised. */
export function clampLrsInterval(requestedMs: number): { readonly intervalMs: number; readonly clamped: boolean } {
  return requestedMs < minClientLrsIntervalMs ? { intervalMs: minClientLrsIntervalMs, clamped: true } : { intervalMs: requestedMs, clamped: false };
}

export interface LoadReportingOptions {
  readonly telemetry: TelemetryStore;
  readonly logger: Logger;
  /** How often proxies report (default 1 s). */
  readonly reportIntervalMs?: number;
  /** The current snapshot's localities, to attribute gRPC locality reports to endpoints. */
  readonly localities?: () => LocalityIndex | undefined;
}

export class LoadReportingServer {
  #streams = 0;
  #reports = 0;
  readonly #open = new Set<ServerDuplexStream<LoadStatsRequest, unknown>>();

  constructor(private readonly options: LoadReportingOptions) {}

  get streams(): number {
    return this.#streams;
  }

  get reports(): number {
    return this.#reports;
  }

  /** Fold one report into the telemetry store (exposed for benches and tests). */
  ingest(request: LoadStatsRequest): void {
    this.#reports++;
    const localities = this.options.localities?.();
    for (const cluster of request.cluster_stats ?? []) {
      const name = cluster.cluster_name ?? cluster.cluster_service_name ?? '';
      const parsed = parseClusterName(name);
      if (!parsed || parsed.direction !== 'outbound') continue;
      let successes = 0;
      let errors = 0;
      for (const locality of cluster.upstream_locality_stats ?? []) {
        const ok = num(locality.total_successful_requests);
        const failed = num(locality.total_error_requests);
        successes += ok;
        errors += failed;
        const perEndpoint = locality.upstream_endpoint_stats ?? [];
        if (perEndpoint.length > 0) {
          for (const endpoint of perEndpoint) {
            const socket = endpoint.address?.socket_address;
            if (!socket?.address || !socket.port_value) continue;
            this.options.telemetry.recordEndpoint('lrs', parsed.host, endpointKey(socket.address, socket.port_value), num(endpoint.total_successful_requests), num(endpoint.total_error_requests));
          }
        } else if (ok + failed > 0) {
          const sole = localities?.soleEndpoint(name, locality.locality?.zone ?? '');
          if (sole) this.options.telemetry.recordEndpoint('lrs', parsed.host, sole, ok, failed);
        }
      }
      if (successes + errors > 0) this.options.telemetry.recordVersion('lrs', parsed.host, parsed.version, successes, errors);
    }
  }

  service(): AdditionalService {
    const request = lookupEnvoyType('envoy.service.load_stats.v3.LoadStatsRequest');
    const response = lookupEnvoyType('envoy.service.load_stats.v3.LoadStatsResponse');
    const definition = {
      StreamLoadStats: {
        path: `/${serviceName}/StreamLoadStats`,
        requestStream: true,
        responseStream: true,
        requestDeserialize: (bytes: Buffer) => request.decode(bytes) as unknown as LoadStatsRequest,
        requestSerialize: (value: LoadStatsRequest) => Buffer.from(request.encode(request.fromObject(value as Record<string, unknown>)).finish()),
        responseSerialize: (value: Record<string, unknown>) => Buffer.from(response.encode(response.fromObject(value)).finish()),
        responseDeserialize: (bytes: Buffer) => response.decode(bytes) as unknown,
      },
    } as ServiceDefinition;
    const implementation: UntypedServiceImplementation = {
      StreamLoadStats: (call: ServerDuplexStream<LoadStatsRequest, unknown>) => this.#stream(call),
    };
    return { definition, implementation };
  }

  #stream(call: ServerDuplexStream<LoadStatsRequest, unknown>): void {
    this.#streams++;
    this.#open.add(call);
    let nodeId: string | undefined;
    const interval = this.options.reportIntervalMs ?? 1000;
    const done = () => {
      if (!this.#open.delete(call)) return;
      this.#streams--;
      this.options.logger.debug({ nodeId }, 'LRS stream ended');
    };
    call.on('data', (message: LoadStatsRequest) => {
      if (nodeId === undefined) {
        nodeId = message.node?.id ?? '';
        this.options.logger.debug({ nodeId }, 'LRS stream started');
        call.write({
          send_all_clusters: true,
          report_endpoint_granularity: true,
          load_reporting_interval: { seconds: Math.floor(interval / 1000), nanos: (interval % 1000) * 1_000_000 },
        });
      }
      try {
        this.ingest(message);
      } catch (error) {
        this.options.logger.warn({ nodeId, err: error }, 'malformed LRS report ignored');
      }
    });
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', done);
    call.on('close', done);
    call.on('cancelled', done);
  }

  /** End every open stream (shutdown). */
  close(): void {
    for (const call of [...this.#open]) call.end();
  }
}
