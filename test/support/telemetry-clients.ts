/**
 * Raw telemetry clients for tests and benches: an LRS stream and an Envoy
 * stats-sink (MetricsService) stream speaking the wire protocol with the
 * Envoy protos, as Envoy sidecars do.
 */
import { Client, credentials, Metadata, type ClientDuplexStream, type ClientWritableStream } from '@grpc/grpc-js';
import { lookupEnvoyType } from '../../control-plane/envoy/proto-registry.js';
import { LATENCY_BOUNDS_MS, latencyBucket } from '../../control-plane/telemetry/telemetry-store.js';

const encoder = (typeName: string) => {
  const type = lookupEnvoyType(typeName);
  return (value: unknown) => Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
};
const decoder = (typeName: string) => {
  const type = lookupEnvoyType(typeName);
  return (bytes: Buffer) => type.toObject(type.decode(bytes), { longs: Number, defaults: false }) as Record<string, unknown>;
};

export interface LrsStream {
  readonly responses: Record<string, unknown>[];
  send(clusterStats: unknown[]): void;
  close(): void;
}

export function openLrsStream(address: string, nodeId: string): Promise<LrsStream> {
  const client = new Client(address, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    '/envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats',
    encoder('envoy.service.load_stats.v3.LoadStatsRequest'),
    decoder('envoy.service.load_stats.v3.LoadStatsResponse'),
    new Metadata(),
  ) as ClientDuplexStream<unknown, Record<string, unknown>>;
  const responses: Record<string, unknown>[] = [];
  call.on('error', () => undefined);
  return new Promise((resolve) => {
    call.once('data', (first: Record<string, unknown>) => {
      responses.push(first);
      call.on('data', (m: Record<string, unknown>) => responses.push(m));
      resolve({
        responses,
        send: (clusterStats) => call.write({ cluster_stats: clusterStats }),
        close: () => {
          call.end();
          client.close();
        },
      });
    });
    call.write({ node: { id: nodeId }, cluster_stats: [] });
  });
}

export interface SinkStream {
  send(families: unknown[]): void;
  close(): Promise<void>;
}

export function openStatsSinkStream(address: string, nodeId: string): SinkStream {
  const client = new Client(address, credentials.createInsecure());
  let ended: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (ended = resolve));
  const call = client.makeClientStreamRequest(
    '/envoy.service.metrics.v3.MetricsService/StreamMetrics',
    encoder('envoy.service.metrics.v3.StreamMetricsMessage'),
    decoder('envoy.service.metrics.v3.StreamMetricsResponse'),
    new Metadata(),
    () => ended(),
  ) as ClientWritableStream<unknown>;
  let first = true;
  return {
    send(families) {
      call.write({ identifier: first ? { node: { id: nodeId } } : undefined, envoy_metrics: families });
      first = false;
    },
    async close() {
      call.end();
      await finished;
      client.close();
    },
  };
}

/**
 * What one Envoy sidecar accumulates for a cluster: cumulative response-class
 * counters and the upstream_rq_time histogram, in Envoy's flat stat names.
 */
export class EnvoyClusterStats {
  readonly classes = new Map<number, number>();
  readonly buckets = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  count = 0;
  sum = 0;

  constructor(readonly cluster: string) {}

  observe(codeClass: number, latencyMs: number): void {
    this.classes.set(codeClass, (this.classes.get(codeClass) ?? 0) + 1);
    this.buckets[latencyBucket(latencyMs)]!++;
    this.count++;
    this.sum += latencyMs;
  }

  families(): unknown[] {
    const families: unknown[] = [];
    for (const codeClass of [2, 4, 5]) {
      families.push({ name: `cluster.${this.cluster}.upstream_rq_${codeClass}xx`, type: 0, metric: [{ counter: { value: this.classes.get(codeClass) ?? 0 } }] });
    }
    let cumulative = 0;
    const bucket = LATENCY_BOUNDS_MS.map((bound, i) => ({ upper_bound: bound, cumulative_count: (cumulative += this.buckets[i]!) }));
    families.push({ name: `cluster.${this.cluster}.upstream_rq_time`, type: 4, metric: [{ histogram: { sample_count: this.count, sample_sum: this.sum, bucket } }] });
    return families;
  }
}
