/**
 * The Envoy stats sink: envoy.service.metrics.v3.MetricsService/StreamMetrics,
 * where the injected bootstrap's `envoy.stat_sinks.metrics_service` sends
 * every flush as Prometheus MetricFamily messages.
 *
 * What is read, per cluster `outbound|<port>|<version>|<host>`:
 *   - upstream_rq_<N>xx counters: 5xx are errors, the rest successes (Flagger's
 *     request-success-rate makes the same split);
 *   - upstream_rq_time histogram (ms): latency;
 *   - per-endpoint rq_success / rq_error (Envoy's per_endpoint_stats) for
 *     mesh-wide ejection.
 * Both naming schemes are understood: flat names
 * (`cluster.<name>.upstream_rq_5xx`) and tag-extracted names with labels
 * (`cluster.upstream_rq_xx` or `envoy_cluster_upstream_rq_xx` with
 * `envoy_cluster_name`, `envoy_response_code_class`), i.e. with or without
 * `emit_tags_as_labels`.
 *
 * Envoy sends cumulative counters and histograms (report_counters_as_deltas
 * off, our bootstrap's default): each stream keeps the last value of each
 * series it reports and turns them into deltas; the first value of a series is
 * a baseline (a proxy's whole history is not one interval's traffic). A value
 * that goes down is a restart of the counter: the new value is the delta.
 * That per-stream state is dropped with the stream and capped per stream.
 */
import type { ServerReadableStream, ServiceDefinition, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import { lookupEnvoyType } from '../envoy/proto-registry.js';
import type { Logger } from '../log/logger.js';
import { parseClusterName } from '../translate/cluster-names.js';
import type { AdditionalService } from '../xds/server.js';
import type { TelemetryStore } from './telemetry-store.js';

const serviceName = 'envoy.service.metrics.v3.MetricsService';

type Num = number | { toNumber(): number } | null | undefined;
const num = (value: Num): number => (value === null || value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber());

export interface LabelPair {
  name?: string;
  value?: string;
}
export interface PromMetric {
  label?: LabelPair[];
  counter?: { value?: number } | null;
  gauge?: { value?: number } | null;
  untyped?: { value?: number } | null;
  histogram?: { sample_count?: Num; bucket?: Array<{ cumulative_count?: Num; upper_bound?: number }> } | null;
}
export interface MetricFamily {
  name?: string;
  type?: number;
  metric?: PromMetric[];
}
export interface StreamMetricsMessage {
  identifier?: { node?: { id?: string } | null } | null;
  envoy_metrics?: MetricFamily[];
}

/** Per proxy stream: last cumulative value per series, to compute deltas. */
export class SinkStreamState {
  readonly last = new Map<string, number | number[]>();
  nodeId?: string;
  constructor(readonly maxSeries = 50_000) {}
}

// Flat names. The cluster name contains dots (the host), so the suffixes anchor the match.
const flatCluster = /^cluster\.(outbound\|\d+\|[^|]*\|.+)\.(upstream_rq_([1-5])xx|upstream_rq_time)$/;
const flatEndpoint = /^cluster\.(outbound\|\d+\|[^|]*\|.+?)\.endpoint\.(.+)\.(rq_success|rq_error)$/;
const taggedName = /^(?:envoy_)?cluster[._](upstream_rq_xx|upstream_rq_time|endpoint[._]rq_success|endpoint[._]rq_error)$/;

/** `10.0.0.1_8080` (Envoy's stat-name-safe form) or `10.0.0.1:8080` → `10.0.0.1:8080`. */
function normaliseAddress(text: string): string {
  const match = /^(.*)[_:](\d+)$/.exec(text);
  return match ? `${match[1]}:${match[2]}` : text;
}

interface Parsed {
  cluster: string;
  what: 'xx' | 'time' | 'ep-success' | 'ep-error';
  codeClass?: number;
  endpoint?: string;
}

function parseMetric(family: string, labels: readonly LabelPair[] | undefined): Parsed | undefined {
  const flat = flatCluster.exec(family);
  if (flat) return flat[2] === 'upstream_rq_time' ? { cluster: flat[1]!, what: 'time' } : { cluster: flat[1]!, what: 'xx', codeClass: Number(flat[3]) };
  const endpoint = flatEndpoint.exec(family);
  if (endpoint) return { cluster: endpoint[1]!, what: endpoint[3] === 'rq_success' ? 'ep-success' : 'ep-error', endpoint: normaliseAddress(endpoint[2]!) };
  const tagged = taggedName.exec(family);
  if (!tagged) return undefined;
  const label = (name: string) => labels?.find((l) => l.name === name)?.value;
  const cluster = label('envoy_cluster_name');
  if (!cluster) return undefined;
  const kind = tagged[1]!.replace('.', '_');
  if (kind === 'upstream_rq_xx') {
    const codeClass = Number(label('envoy_response_code_class'));
    return Number.isInteger(codeClass) ? { cluster, what: 'xx', codeClass } : undefined;
  }
  if (kind === 'upstream_rq_time') return { cluster, what: 'time' };
  const address = label('envoy_endpoint_address');
  if (!address) return undefined;
  return { cluster, what: kind === 'endpoint_rq_success' ? 'ep-success' : 'ep-error', endpoint: normaliseAddress(address) };
}

export interface StatsSinkOptions {
  readonly telemetry: TelemetryStore;
  readonly logger: Logger;
}

export class StatsSinkServer {
  #streams = 0;
  #messages = 0;
  readonly #open = new Set<ServerReadableStream<StreamMetricsMessage, unknown>>();

  constructor(private readonly options: StatsSinkOptions) {}

  get streams(): number {
    return this.#streams;
  }

  get messages(): number {
    return this.#messages;
  }

  #delta(state: SinkStreamState, key: string, value: number): number | undefined {
    const last = state.last.get(key);
    if (last === undefined) {
      if (state.last.size < state.maxSeries) state.last.set(key, value);
      return undefined;
    }
    state.last.set(key, value);
    const delta = value - (last as number);
    return delta >= 0 ? delta : value;
  }

  /** Fold one flush of one proxy into the telemetry store; returns the samples read. */
  ingest(state: SinkStreamState, message: StreamMetricsMessage): number {
    this.#messages++;
    if (state.nodeId === undefined && message.identifier?.node?.id) state.nodeId = message.identifier.node.id;
    const telemetry = this.options.telemetry;
    let samples = 0;
    // Successes and errors per cluster are summed over response classes, then recorded once.
    const perCluster = new Map<string, { ok: number; failed: number; latency?: { boundsMs: number[]; counts: number[] } }>();
    const entry = (cluster: string) => {
      let found = perCluster.get(cluster);
      if (!found) perCluster.set(cluster, (found = { ok: 0, failed: 0 }));
      return found;
    };
    for (const family of message.envoy_metrics ?? []) {
      const name = family.name ?? '';
      for (const metric of family.metric ?? []) {
        const parsed = parseMetric(name, metric.label);
        if (!parsed) continue;
        samples++;
        const key = parsed.endpoint ? `${name}|${parsed.cluster}|${parsed.endpoint}` : `${name}|${parsed.cluster}|${parsed.codeClass ?? ''}`;
        if (parsed.what === 'time') {
          const histogram = metric.histogram;
          if (!histogram) continue;
          const buckets = histogram.bucket ?? [];
          const cumulative = [...buckets.map((b) => num(b.cumulative_count)), num(histogram.sample_count)];
          const last = state.last.get(key) as number[] | undefined;
          if (!last || last.length !== cumulative.length) {
            if (state.last.size < state.maxSeries || last) state.last.set(key, cumulative);
            continue;
          }
          state.last.set(key, cumulative);
          const reset = cumulative[cumulative.length - 1]! < last[last.length - 1]!;
          const deltas = cumulative.map((value, i) => (reset ? value : value - last[i]!));
          // Cumulative → per bucket; the last count is the overflow (sample_count beyond the last bound).
          const counts = deltas.map((value, i) => Math.max(0, value - (i === 0 ? 0 : deltas[i - 1]!)));
          if (counts.some((c) => c > 0)) entry(parsed.cluster).latency = { boundsMs: buckets.map((b) => b.upper_bound ?? Number.POSITIVE_INFINITY), counts };
          continue;
        }
        const value = metric.counter?.value ?? metric.untyped?.value ?? metric.gauge?.value;
        if (typeof value !== 'number') continue;
        const delta = this.#delta(state, key, value);
        if (!delta) continue;
        const host = parseClusterName(parsed.cluster);
        if (!host || host.direction !== 'outbound') continue;
        if (parsed.what === 'xx') {
          const totals = entry(parsed.cluster);
          if (parsed.codeClass === 5) totals.failed += delta;
          else totals.ok += delta;
        } else if (parsed.endpoint) {
          telemetry.recordEndpoint('statsSink', host.host, parsed.endpoint, parsed.what === 'ep-success' ? delta : 0, parsed.what === 'ep-error' ? delta : 0);
        }
      }
    }
    for (const [cluster, totals] of perCluster) {
      const parsed = parseClusterName(cluster);
      if (!parsed || parsed.direction !== 'outbound') continue;
      if (totals.ok + totals.failed > 0 || totals.latency) telemetry.recordVersion('statsSink', parsed.host, parsed.version, totals.ok, totals.failed, totals.latency);
    }
    return samples;
  }

  service(): AdditionalService {
    const request = lookupEnvoyType('envoy.service.metrics.v3.StreamMetricsMessage');
    const response = lookupEnvoyType('envoy.service.metrics.v3.StreamMetricsResponse');
    const definition = {
      StreamMetrics: {
        path: `/${serviceName}/StreamMetrics`,
        requestStream: true,
        responseStream: false,
        requestDeserialize: (bytes: Buffer) => request.decode(bytes) as unknown as StreamMetricsMessage,
        requestSerialize: (value: StreamMetricsMessage) => Buffer.from(request.encode(request.fromObject(value as Record<string, unknown>)).finish()),
        responseSerialize: () => Buffer.from(response.encode({}).finish()),
        responseDeserialize: (bytes: Buffer) => response.decode(bytes) as unknown,
      },
    } as ServiceDefinition;
    const implementation: UntypedServiceImplementation = {
      StreamMetrics: (call: ServerReadableStream<StreamMetricsMessage, unknown>, callback: sendUnaryData<unknown>) => this.#stream(call, callback),
    };
    return { definition, implementation };
  }

  #stream(call: ServerReadableStream<StreamMetricsMessage, unknown>, callback: sendUnaryData<unknown>): void {
    this.#streams++;
    this.#open.add(call);
    const state = new SinkStreamState();
    let finished = false;
    const done = () => {
      if (!this.#open.delete(call)) return;
      this.#streams--;
      this.options.logger.debug({ nodeId: state.nodeId }, 'stats sink stream ended');
    };
    call.on('data', (message: StreamMetricsMessage) => {
      try {
        this.ingest(state, message);
      } catch (error) {
        this.options.logger.warn({ nodeId: state.nodeId, err: error }, 'malformed metrics message ignored');
      }
    });
    call.on('end', () => {
      done();
      if (!finished) {
        finished = true;
        callback(null, {});
      }
    });
    call.on('error', done);
    call.on('close', done);
    call.on('cancelled', done);
  }
}
