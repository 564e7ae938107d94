/**
 * PromQL over Prometheus' HTTP API (GET /api/v1/query), for canary metrics
 * with `source: prometheus`. A query may use Flagger-style placeholders,
 * filled in before it is sent: {{ namespace }}, {{ service }}, {{ stable }},
 * {{ canary }}, {{ interval }} (the canary's interval as a PromQL duration).
 *
 * The result must be one number: a scalar, or a vector of one sample (more
 * samples is an error: the query should aggregate). An empty vector or NaN is
 * "no data".
 */
import { SluiceError } from '../core/errors.js';

export class PrometheusQueryError extends SluiceError {}

export type QueryOutcome = { readonly kind: 'value'; readonly value: number } | { readonly kind: 'no-data'; readonly reason: string };

export interface PrometheusClientOptions {
  /** e.g. http://prometheus.monitoring:9090 */
  readonly url: string;
  readonly timeoutMs?: number;
}

export interface QueryVariables {
  readonly namespace: string;
  readonly service: string;
  readonly stable: string;
  readonly canary: string;
  readonly intervalMs: number;
}

/** A PromQL duration for milliseconds: 300ms, 1m, 90s. */
export function promDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${Math.round(ms)}ms`;
}

export function renderQuery(query: string, variables: QueryVariables): string {
  const values: Record<string, string> = {
    namespace: variables.namespace,
    service: variables.service,
    stable: variables.stable,
    canary: variables.canary,
    interval: promDuration(variables.intervalMs),
  };
  return query.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => values[name] ?? whole);
}

interface ApiResponse {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

export class PrometheusClient {
  readonly url: string;

  constructor(private readonly options: PrometheusClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
  }

  async query(promql: string, at: Date = new Date()): Promise<QueryOutcome> {
    const url = new URL(`${this.url}/api/v1/query`);
    url.searchParams.set('query', promql);
    url.searchParams.set('time', (at.getTime() / 1000).toFixed(3));
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000) });
    } catch (error) {
      throw new PrometheusQueryError('prometheus-unreachable', `cannot reach Prometheus at ${this.url}: ${(error as Error).message}`, { url: this.url, query: promql }, { cause: error });
    }
    const text = await response.text();
    let body: ApiResponse;
    try {
      body = JSON.parse(text) as ApiResponse;
    } catch {
      throw new PrometheusQueryError('prometheus-bad-response', `Prometheus answered ${response.status} with a body that is not JSON`, { url: this.url, query: promql, status: response.status });
    }
    if (body.status !== 'success') {
      throw new PrometheusQueryError('prometheus-query', `Prometheus rejected the query (${body.errorType ?? response.status}): ${body.error ?? text.slice(0, 200)}`, { url: this.url, query: promql, status: response.status });
    }
    return interpret(body.data, promql);
  }
}

function interpret(data: ApiResponse['data'], promql: string): QueryOutcome {
  const number = (raw: unknown): QueryOutcome => {
    const value = Number((raw as [number, string] | undefined)?.[1]);
    return Number.isFinite(value) ? { kind: 'value', value } : { kind: 'no-data', reason: `the query returned ${String((raw as [number, string] | undefined)?.[1])}` };
  };
  switch (data?.resultType) {
    case 'scalar':
      return number(data.result);
    case 'vector': {
      const samples = (data.result ?? []) as Array<{ metric: Record<string, string>; value: [number, string] }>;
      if (samples.length === 0) return { kind: 'no-data', reason: 'the query returned no samples' };
      if (samples.length > 1) throw new PrometheusQueryError('prometheus-many-series', `the query returned ${samples.length} series; aggregate it to one (e.g. with sum())`, { query: promql });
      return number(samples[0]!.value);
    }
    default:
      throw new PrometheusQueryError('prometheus-result-type', `the query returned a ${data?.resultType ?? 'missing'} result; a canary metric needs a scalar or one-sample vector`, { query: promql });
  }
}
