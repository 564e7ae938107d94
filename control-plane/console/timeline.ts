/**
 * What the web console plots over time, sampled from the live control plane:
 * per service version its request rate, error ratio and p99 (from the
 * telemetry store), and per canary its weight, each metric's checked value and
 * every decision with its reason.
 *
 * The control plane itself keeps only current state (the canary controller
 * holds one state per canary, the telemetry store a rolling window), so the
 * history an operator wants to see is recorded here. Memory is bounded: at most
 * `maxPoints` samples per series (fewer per service in a large mesh, so all
 * services together hold at most `maxServiceValues`) and `maxDecisions`
 * decisions per canary; a series disappears with its service or canary.
 */
import type { CanaryMetricSpec } from '../api/types.js';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { MeshService, Snapshot } from '../model/snapshot.js';
import type { CanaryView } from '../canary/controller.js';
import { metricSource } from '../canary/analysis.js';
import type { TelemetryStore, WindowStats } from '../telemetry/telemetry-store.js';

export interface TimelineSources {
  /** The served model (with the canary overlay applied: its routes are the live split). */
  readonly snapshot: () => Snapshot | undefined;
  readonly telemetry: TelemetryStore;
  readonly canaries: () => readonly CanaryView[];
}

export interface TimelineOptions {
  /** How often to sample (default 1 s). */
  readonly sampleMs?: number;
  /** The window rates and ratios are computed over (default 10 s). */
  readonly rateWindowMs?: number;
  /** Samples kept per series (default 900: 15 minutes at 1 s). */
  readonly maxPoints?: number;
  /** Decisions kept per canary (default 500). */
  readonly maxDecisions?: number;
  /** Longest a tick spends sampling services before it resumes with the rest next tick (default 5 ms). */
  readonly serviceBudgetMs?: number;
  /** Values kept over all service series (default 1,000,000, about 8 MB): a large mesh keeps fewer samples per service. */
  readonly maxServiceValues?: number;
  readonly now?: () => number;
}

export class TimelineError extends SluiceError {}

/** One version's golden signals at one sample; undefined where there is nothing to say (no requests, no histograms). */
export interface VersionSignals {
  readonly rps: number;
  readonly requests: number;
  readonly errorRatio?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

/** Samples of one service: a shared time axis and one column per version and signal, aligned (null = no value). */
export interface ServiceSeries {
  readonly t: number[];
  readonly versions: Record<string, { rps: Array<number | null>; errorRatio: Array<number | null>; p99Ms: Array<number | null> }>;
}

export interface CanaryDecision {
  readonly at: number;
  readonly from?: string;
  readonly phase: string;
  readonly weight: number;
  readonly failedChecks: number;
  readonly reason: string;
}

export interface MetricSeries {
  readonly t: number[];
  readonly value: Array<number | null>;
  readonly outcome: string[];
}

export interface CanaryTimeline {
  readonly t: number[];
  readonly weight: number[];
  readonly metrics: Record<string, MetricSeries>;
  readonly decisions: CanaryDecision[];
}

/** A metric's bound as the analysis applies it (docs/canary.md). */
export interface MetricBound {
  readonly name: string;
  readonly source: string;
  readonly min?: number;
  readonly max?: number;
  readonly unit: '%' | 'ms' | '';
}

/** The source is the analysis's: without one, LRS and the stats sink summed (`any`), never the stats sink alone. */
export function metricBound(metric: CanaryMetricSpec): MetricBound {
  const source = metricSource(metric);
  if (metric.name === 'success-rate' && source !== 'prometheus') return { name: metric.name, source, min: metric.min ?? 99, unit: '%' };
  if (metric.name === 'latency-p99') return { name: metric.name, source, max: metric.maxMs, unit: 'ms' };
  return { name: metric.name, source, min: metric.min, max: metric.max, unit: '' };
}

/** The last `max` points with `t > since` (the arrays are in time order). */
function tail<T>(t: readonly number[], values: readonly T[], since: number, max: number): T[] {
  let from = t.length;
  while (from > Math.max(0, t.length - max) && t[from - 1]! > since) from--;
  return values.slice(from);
}

/**
 * Drop the oldest points once a series is a quarter over `max`: one splice per
 * max/4 samples instead of one per sample, so sampling a thousand services
 * stays cheap. Views never show more than `max` (see tail()).
 */
function trim(arrays: Array<unknown[]>, max: number): void {
  const length = arrays[0]?.length ?? 0;
  if (length <= max + Math.max(1, max >> 2)) return;
  for (const a of arrays) a.splice(0, length - max);
}

export class ConsoleTimeline {
  readonly sampleMs: number;
  readonly rateWindowMs: number;
  readonly #maxPoints: number;
  readonly #maxDecisions: number;
  readonly #now: () => number;
  readonly #services = new Map<string, ServiceSeries>();
  readonly #canaries = new Map<string, CanaryTimeline & { last?: CanaryView; lastAnalysisAt?: string }>();
  readonly #signals = new Map<string, Map<string, VersionSignals>>();
  readonly #budgetMs: number;
  readonly #maxServiceValues: number;
  /** Samples kept per service series now: maxPoints, or fewer when the mesh is large. */
  #servicePoints: number;
  #cursor = 0;
  #lastSample = 0;
  #timer?: NodeJS.Timeout;
  #waiters = new Set<() => void>();

  constructor(
    private readonly sources: TimelineSources,
    private readonly logger: Logger,
    options: TimelineOptions = {},
  ) {
    this.sampleMs = options.sampleMs ?? 1000;
    this.rateWindowMs = options.rateWindowMs ?? 10_000;
    this.#maxPoints = options.maxPoints ?? 900;
    this.#maxDecisions = options.maxDecisions ?? 500;
    this.#now = options.now ?? Date.now;
    this.#budgetMs = options.serviceBudgetMs ?? 5;
    this.#maxServiceValues = options.maxServiceValues ?? 1_000_000;
    this.#servicePoints = this.#maxPoints;
    if (!(this.sampleMs > 0) || !(this.rateWindowMs > 0) || !(this.#maxPoints > 0) || !(this.#maxDecisions > 0)) {
      throw new TimelineError('console-timeline-options', 'console sampleMs, rateWindowMs, maxPoints and maxDecisions must be positive', { ...options, now: undefined });
    }
  }

  /** Time of the latest sample (ms since the epoch; 0 before the first). */
  get lastSample(): number {
    return this.#lastSample;
  }

  start(): void {
    this.sample();
    this.#timer = setInterval(() => {
      try {
        this.sample();
      } catch (error) {
        this.logger.error({ err: error }, 'console sample failed');
      }
    }, this.sampleMs);
    this.#timer.unref?.();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#wake();
  }

  /** Resolves at the next sample, or after `timeoutMs` (long-polling clients). */
  nextSample(timeoutMs: number): Promise<void> {
    if (this.#timer === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref?.();
      this.#waiters.add(done);
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** The latest signals of each version of `host` (over the rate window). */
  signals(host: string): ReadonlyMap<string, VersionSignals> {
    return this.#signals.get(host) ?? new Map();
  }

  /** Take one sample of every service and canary. */
  sample(): void {
    // Timestamps only move forward, so `since` cursors of clients stay valid.
    const now = Math.max(this.#now(), this.#lastSample + 1);
    this.#sampleServices(now);
    this.#sampleCanaries(now);
    this.#lastSample = now;
    this.#wake();
  }

  #versionSignals(host: string, version: string): VersionSignals {
    const { telemetry } = this.sources;
    const lrs = telemetry.versionWindow('lrs', host, version, this.rateWindowMs);
    const sink = telemetry.versionWindow('statsSink', host, version, this.rateWindowMs);
    // LRS (proxyless clients) and the stats sink (sidecars) count different callers: their requests add up.
    const requests = lrs.requests + sink.requests;
    const errors = lrs.errors + sink.errors;
    const latency: WindowStats = sink;
    return {
      requests,
      rps: requests / (sink.windowMs / 1000),
      ...(requests > 0 ? { errorRatio: errors / requests } : {}),
      ...(latency.p50Ms !== undefined ? { p50Ms: latency.p50Ms } : {}),
      ...(latency.p99Ms !== undefined ? { p99Ms: latency.p99Ms } : {}),
    };
  }

  /**
   * Sample services round robin within a time budget: a small mesh is sampled
   * whole every tick; in a large one each service is sampled every few ticks,
   * and the event loop that serves xDS is never held for long.
   */
  #sampleServices(now: number): void {
    const snapshot = this.sources.snapshot();
    if (!snapshot) return;
    const services: MeshService[] = [];
    for (const service of snapshot.services.values()) if (service.versions.size > 0) services.push(service);
    if (this.#services.size > services.length || services.some((s) => !this.#services.has(s.host))) {
      const present = new Set(services.map((s) => s.host));
      for (const host of this.#services.keys()) {
        if (present.has(host)) continue;
        this.#services.delete(host);
        this.#signals.delete(host);
      }
    }
    // Each sample of a service holds its time and three values per version.
    let columns = 0;
    for (const service of services) columns += 1 + 3 * service.versions.size;
    this.#servicePoints = Math.max(Math.min(60, this.#maxPoints), Math.min(this.#maxPoints, Math.floor(this.#maxServiceValues / Math.max(1, columns))));
    const started = performance.now();
    for (let n = 0; n < services.length; n++) {
      const index = (this.#cursor + n) % services.length;
      this.#sampleService(services[index]!, now);
      if (n + 1 < services.length && performance.now() - started >= this.#budgetMs) {
        this.#cursor = index + 1;
        return;
      }
    }
  }

  #sampleService(service: MeshService, now: number): void {
    let series = this.#services.get(service.host);
    if (!series) {
      series = { t: [], versions: {} };
      this.#services.set(service.host, series);
    }
    const signals = new Map<string, VersionSignals>();
    for (const version of service.versions.keys()) {
      const s = this.#versionSignals(service.host, version);
      signals.set(version, s);
      let column = series.versions[version];
      if (!column) {
        // A version that appears later is padded, so every column stays aligned with `t`.
        const pad = () => new Array<number | null>(series.t.length).fill(null);
        column = series.versions[version] = { rps: pad(), errorRatio: pad(), p99Ms: pad() };
      }
      column.rps.push(s.rps);
      column.errorRatio.push(s.errorRatio ?? null);
      column.p99Ms.push(s.p99Ms ?? null);
    }
    for (const [name, column] of Object.entries(series.versions)) {
      if (signals.has(name)) continue;
      column.rps.push(null);
      column.errorRatio.push(null);
      column.p99Ms.push(null);
    }
    series.t.push(now);
    this.#signals.set(service.host, signals);
    if (series.t.length > this.#servicePoints) trim([series.t, ...Object.values(series.versions).flatMap((c) => [c.rps, c.errorRatio, c.p99Ms])], this.#servicePoints);
  }

  #sampleCanaries(now: number): void {
    const seen = new Set<string>();
    for (const view of this.sources.canaries()) {
      const key = `${view.namespace}/${view.name}`;
      seen.add(key);
      let timeline = this.#canaries.get(key);
      if (!timeline) {
        timeline = { t: [], weight: [], metrics: {}, decisions: [] };
        this.#canaries.set(key, timeline);
      }
      timeline.t.push(now);
      timeline.weight.push(view.canaryWeight);
      trim([timeline.t, timeline.weight], this.#maxPoints);
      const last = timeline.last;
      // A decision: the phase, the weight or the failed-check count moved, or the controller said something new.
      if (!last || last.phase !== view.phase || last.canaryWeight !== view.canaryWeight || last.failedChecks !== view.failedChecks || last.message !== view.message) {
        timeline.decisions.push({
          at: now,
          ...(last && last.phase !== view.phase ? { from: last.phase } : {}),
          phase: view.phase,
          weight: view.canaryWeight,
          failedChecks: view.failedChecks,
          reason: view.message,
        });
        if (timeline.decisions.length > this.#maxDecisions) timeline.decisions.splice(0, timeline.decisions.length - this.#maxDecisions);
      }
      const analysis = view.lastAnalysis;
      if (analysis && analysis.at !== timeline.lastAnalysisAt) {
        timeline.lastAnalysisAt = analysis.at;
        // Stamped with the sample time (within sampleMs of the analysis), so a client's `since` cursor never skips it.
        for (const result of analysis.results) {
          const series = (timeline.metrics[result.metric] ??= { t: [], value: [], outcome: [] });
          series.t.push(now);
          series.value.push(result.value ?? null);
          series.outcome.push(result.outcome);
          trim([series.t, series.value, series.outcome], this.#maxPoints);
        }
      }
      timeline.last = view;
    }
    for (const key of this.#canaries.keys()) if (!seen.has(key)) this.#canaries.delete(key);
  }

  /** Service samples taken after `since` (0: everything kept). */
  serviceSeries(host: string, since = 0): ServiceSeries | undefined {
    const series = this.#services.get(host);
    if (!series) return undefined;
    const max = this.#servicePoints;
    const versions: ServiceSeries['versions'] = {};
    for (const [name, c] of Object.entries(series.versions)) {
      versions[name] = { rps: tail(series.t, c.rps, since, max), errorRatio: tail(series.t, c.errorRatio, since, max), p99Ms: tail(series.t, c.p99Ms, since, max) };
    }
    return { t: tail(series.t, series.t, since, max), versions };
  }

  /** A canary's timeline after `since` (0: everything kept). */
  canaryTimeline(namespace: string, name: string, since = 0): CanaryTimeline | undefined {
    const timeline = this.#canaries.get(`${namespace}/${name}`);
    if (!timeline) return undefined;
    const max = this.#maxPoints;
    const metrics: Record<string, MetricSeries> = {};
    for (const [metric, s] of Object.entries(timeline.metrics)) {
      metrics[metric] = { t: tail(s.t, s.t, since, max), value: tail(s.t, s.value, since, max), outcome: tail(s.t, s.outcome, since, max) };
    }
    return {
      t: tail(timeline.t, timeline.t, since, max),
      weight: tail(timeline.t, timeline.weight, since, max),
      metrics,
      decisions: timeline.decisions.filter((d) => d.at > since),
    };
  }
}
