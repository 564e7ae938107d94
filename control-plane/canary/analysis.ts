/**
 * One interval's check of a canary: every metric of spec.metrics against its
 * bound, on the canary version's telemetry over the last interval.
 *
 * - success-rate (percent of non-error requests) ≥ min (default 99);
 * - latency-p99 (ms, from histograms) ≤ maxMs;
 * - custom, or any metric with source prometheus: the PromQL query's value
 *   within [min, max] (latency-p99 from Prometheus compares with maxMs).
 * Fewer than minRequests requests (or latency samples) is "no data". LRS
 * carries no latency, so latency-p99 from LRS is always "no data" with a
 * message saying so.
 */
import type { CanaryMetricSpec } from '../api/types.js';
import type { Canary } from '../model/snapshot.js';
import { serviceHost } from '../model/snapshot.js';
import { PrometheusQueryError, renderQuery, type PrometheusClient } from '../telemetry/prometheus-query.js';
import type { TelemetryStore } from '../telemetry/telemetry-store.js';
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
}

async function checkMetric(canary: Canary, metric: CanaryMetricSpec, windowMs: number, deps: AnalysisDeps): Promise<MetricResult> {
  const source = metric.source ?? 'statsSink';
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
  const stats = deps.telemetry.versionWindow(source, host, canary.spec.canary, windowMs);
  if (name === 'success-rate') {
    if (stats.requests < minRequests || stats.successRate === undefined) return { ...base, outcome: 'no-data', requests: stats.requests, message: `success-rate: ${stats.requests} requests < minRequests ${minRequests}` };
    const min = metric.min ?? 99;
    const value = stats.successRate;
    if (value < min) return { ...base, outcome: 'fail', value, requests: stats.requests, message: `success-rate ${round(value)}% < ${min}% (${stats.errors}/${stats.requests} errors)` };
    return { ...base, outcome: 'pass', value, requests: stats.requests, message: `success-rate ${round(value)}%` };
  }
  // latency-p99
  if (source === 'lrs') return { ...base, outcome: 'no-data', message: 'latency-p99: LRS reports carry no latency; use source statsSink or prometheus' };
  if (metric.maxMs === undefined) return { ...base, outcome: 'fail', message: 'latency-p99 needs maxMs' };
  if (stats.latencySamples < minRequests || stats.p99Ms === undefined) return { ...base, outcome: 'no-data', requests: stats.latencySamples, message: `latency-p99: ${stats.latencySamples} samples < minRequests ${minRequests}` };
  const value = stats.p99Ms;
  if (value > metric.maxMs) return { ...base, outcome: 'fail', value, requests: stats.latencySamples, message: `latency-p99 ${round(value)}ms > ${metric.maxMs}ms` };
  return { ...base, outcome: 'pass', value, requests: stats.latencySamples, message: `latency-p99 ${round(value)}ms` };
}

export async function analyse(canary: Canary, windowMs: number, deps: AnalysisDeps, now = new Date()): Promise<AnalysisResult> {
  const results = await Promise.all(canary.spec.metrics.map((metric) => checkMetric(canary, metric, windowMs, deps)));
  const failed = results.filter((r) => r.outcome === 'fail');
  const missing = results.filter((r) => r.outcome === 'no-data');
  const verdict: CheckVerdict = failed.length
    ? { kind: 'fail', message: failed.map((r) => r.message).join('; ') }
    : missing.length
      ? { kind: 'no-data', message: missing.map((r) => r.message).join('; ') }
      : { kind: 'pass', message: results.map((r) => r.message).join(', ') };
  return { verdict, results, at: now.toISOString() };
}
