/**
 * One interval's check of a canary: every metric of spec.metrics against its
 * bound, on the canary version's telemetry over the last interval.
 *
 * A metric without a `source` reads every telemetry source there is for the
 * version — LRS from proxyless clients and the stats sink from sidecars,
 * summed (they report different proxies, so nothing is counted twice) — and
 * is "no data" only when no source has enough.
 *
 * Proxies that NACK the service's configuration come first: traffic that
 * cannot be routed as the canary says is a failed check naming the NACK,
 * never "no data".
 *
 * - success-rate (percent of non-error requests) ≥ min (default 99);
 * - latency-p99 (ms, from histograms) ≤ maxMs;
 * - custom, or any metric with source prometheus: the PromQL query's value
 *   within [min, max] (latency-p99 from Prometheus compares with maxMs).
 * Fewer than minRequests requests (or latency samples) is "no data". LRS
 * carries no latency, so latency-p99 from LRS alone is always "no data" with
 * a message saying so.
 */
import type { CanaryMetricSpec } from '../api/types.js';
import type { Canary } from '../model/snapshot.js';
import { serviceHost } from '../model/snapshot.js';
import { PrometheusQueryError, renderQuery, type PrometheusClient } from '../telemetry/prometheus-query.js';
import type { TelemetryStore, WindowStats } from '../telemetry/telemetry-store.js';
import type { ProxyNack } from '../xds/connections.js';
import type { CheckVerdict } from './state-machine.js';

export interface MetricResult {
  readonly metric: string;
  readonly source: string;
  readonly outcome: 'pass' | 'fail' | 'no-data';
  readonly value?: number;
  readonly requests?: number;
  readonly message: string;
}

export interface AnalysisResult {
  readonly verdict: CheckVerdict;
  readonly results: readonly MetricResult[];
  readonly at: string;
}

const round = (n: number) => Math.round(n * 100) / 100;

export interface AnalysisDeps {
  readonly telemetry: TelemetryStore;
  readonly prometheus?: PrometheusClient;
  /** Proxies currently rejecting some configuration (from the xDS connections). */
  readonly nacks?: () => readonly ProxyNack[];
}

/** Requests of a version from one source, or from all of them summed (no `source` given). */
function versionStats(telemetry: TelemetryStore, source: 'lrs' | 'statsSink' | 'any', host: string, version: string, windowMs: number): WindowStats {
  if (source !== 'any') return telemetry.versionWindow(source, host, version, windowMs);
  const lrs = telemetry.versionWindow('lrs', host, version, windowMs);
  const sink = telemetry.versionWindow('statsSink', host, version, windowMs);
  const requests = lrs.requests + sink.requests;
  const successes = lrs.successes + sink.successes;
  // Only the stats sink carries latency, so its quantiles stand for both.
  return { ...sink, requests, successes, errors: lrs.errors + sink.errors, successRate: requests > 0 ? (100 * successes) / requests : undefined };
}

/** Whether `text` names `host` as a whole DNS name (`outbound|80|v2|<host>`, `<host>:80`), not as part of a longer one. */
function namesHost(text: string, host: string): boolean {
  const partOfName = (c: string | undefined) => c !== undefined && /[A-Za-z0-9.-]/.test(c);
  for (let at = text.indexOf(host); at >= 0; at = text.indexOf(host, at + 1)) {
    if (!partOfName(text[at - 1]) && !partOfName(text[at + host.length])) return true;
  }
  return false;
}

/** NACKs of resources that carry `host` (its routes, clusters, endpoints, listener), by name or in the error detail. */
export function nacksOfHost(nacks: readonly ProxyNack[], host: string): ProxyNack[] {
  return nacks.filter((nack) => (nack.resources !== 'wildcard' && nack.resources.some((name) => namesHost(name, host))) || namesHost(nack.message, host));
}

/** "3 proxies NACKed routes echo.shop…:9090: <error_detail>", one clause per (type, message). */
export function describeNacks(nacks: readonly ProxyNack[], host: string): string {
  const groups = new Map<string, { type: string; resources: Set<string>; message: string; proxies: Set<string>; clients: Set<string> }>();
  for (const nack of nacks) {
    const key = `${nack.type}\u0000${nack.message}`;
    const group = groups.get(key) ?? { type: nack.type, resources: new Set<string>(), message: nack.message, proxies: new Set<string>(), clients: new Set<string>() };
    groups.set(key, group);
    group.proxies.add(nack.nodeId);
    if (nack.client) group.clients.add(nack.client);
    for (const name of nack.resources === 'wildcard' ? [] : nack.resources) if (namesHost(name, host)) group.resources.add(name);
  }
  return [...groups.values()]
    .map((g) => `${g.proxies.size} ${g.proxies.size === 1 ? 'proxy' : 'proxies'}${g.clients.size ? ` (${[...g.clients].sort().join(', ')})` : ''} NACKed ${g.type}${g.resources.size ? ` ${[...g.resources].sort().join(', ')}` : ''}: ${g.message}`)
    .join('; ');
}

/** Where a metric's numbers come from: its `source`, or `any` (every source summed). The console shows the same. */
export type MetricSource = NonNullable<CanaryMetricSpec['source']> | 'any';
export function metricSource(metric: CanaryMetricSpec): MetricSource {
  return metric.source ?? 'any';
}

async function checkMetric(canary: Canary, metric: CanaryMetricSpec, windowMs: number, deps: AnalysisDeps): Promise<MetricResult> {
  const source = metricSource(metric);
  const minRequests = metric.minRequests ?? 20;
  const name = metric.name;
  const base = { metric: name, source };
  if (source === 'prometheus' || name === 'custom') {
    if (source !== 'prometheus') return { ...base, outcome: 'fail', message: `${name}: a custom metric needs source: prometheus and a query` };
    if (!metric.query) return { ...base, outcome: 'fail', message: `${name}: source prometheus needs a query` };
    if (!deps.prometheus) return { ...base, outcome: 'fail', message: `${name}: no Prometheus configured (serve --prometheus-url)` };
    const query = renderQuery(metric.query, { namespace: canary.namespace, service: canary.spec.service, stable: canary.spec.stable, canary: canary.spec.canary, intervalMs: windowMs });
    try {
      const outcome = await deps.prometheus.query(query);
      if (outcome.kind === 'no-data') return { ...base, outcome: 'no-data', message: `${name}: ${outcome.reason}` };
      const value = outcome.value;
      const min = metric.min;
      const max = name === 'latency-p99' ? metric.maxMs : metric.max;
      if (min !== undefined && value < min) return { ...base, outcome: 'fail', value, message: `${name} ${round(value)} < min ${min}` };
      if (max !== undefined && value > max) return { ...base, outcome: 'fail', value, message: `${name} ${round(value)} > max ${max}` };
      return { ...base, outcome: 'pass', value, message: `${name} ${round(value)}` };
    } catch (error) {
      const message = error instanceof PrometheusQueryError ? error.message : String(error);
      return { ...base, outcome: 'fail', message: `${name}: ${message}` };
    }
  }
  const host = serviceHost(canary.spec.service, canary.namespace);
  const stats = versionStats(deps.telemetry, source, host, canary.spec.canary, windowMs);
  if (name === 'success-rate') {
    if (stats.requests < minRequests || stats.successRate === undefined) return { ...base, outcome: 'no-data', requests: stats.requests, message: `success-rate: ${stats.requests} requests < minRequests ${minRequests}${source === 'any' ? ' (LRS and stats sink summed)' : ''}` };
    const min = metric.min ?? 99;
    const value = stats.successRate;
    if (value < min) return { ...base, outcome: 'fail', value, requests: stats.requests, message: `success-rate ${round(value)}% < ${min}% (${stats.errors}/${stats.requests} errors)` };
    return { ...base, outcome: 'pass', value, requests: stats.requests, message: `success-rate ${round(value)}%` };
  }
  // latency-p99
  if (source === 'lrs') return { ...base, outcome: 'no-data', message: 'latency-p99: LRS reports carry no latency; use source statsSink or prometheus' };
  if (metric.maxMs === undefined) return { ...base, outcome: 'fail', message: 'latency-p99 needs maxMs' };
  if (stats.latencySamples < minRequests || stats.p99Ms === undefined) return { ...base, outcome: 'no-data', requests: stats.latencySamples, message: `latency-p99: ${stats.latencySamples} samples < minRequests ${minRequests}${source === 'any' && stats.requests > stats.latencySamples ? ' (LRS reports from proxyless clients carry no latency; sidecars\' stats sink or prometheus do)' : ''}` };
  const value = stats.p99Ms;
  if (value > metric.maxMs) return { ...base, outcome: 'fail', value, requests: stats.latencySamples, message: `latency-p99 ${round(value)}ms > ${metric.maxMs}ms` };
  return { ...base, outcome: 'pass', value, requests: stats.latencySamples, message: `latency-p99 ${round(value)}ms` };
}

export async function analyse(canary: Canary, windowMs: number, deps: AnalysisDeps, now = new Date()): Promise<AnalysisResult> {
  const host = serviceHost(canary.spec.service, canary.namespace);
  const nacked = nacksOfHost(deps.nacks?.() ?? [], host);
  const metricResults = await Promise.all(canary.spec.metrics.map((metric) => checkMetric(canary, metric, windowMs, deps)));
  const results: MetricResult[] = nacked.length ? [{ metric: 'xds-delivery', source: 'xds', outcome: 'fail', message: describeNacks(nacked, host) }, ...metricResults] : metricResults;
  const failed = results.filter((r) => r.outcome === 'fail');
  const missing = results.filter((r) => r.outcome === 'no-data');
  const verdict: CheckVerdict = failed.length
    ? { kind: 'fail', message: failed.map((r) => r.message).join('; ') }
    : missing.length
      ? { kind: 'no-data', message: missing.map((r) => r.message).join('; ') }
      : { kind: 'pass', message: results.map((r) => r.message).join(', ') };
  return { verdict, results, at: now.toISOString() };
}
