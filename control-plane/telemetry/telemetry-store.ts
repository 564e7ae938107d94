/**
 * Rolling windows of request telemetry per service version (and per endpoint,
 * for mesh-wide ejection), fed by LRS and the Envoy stats sink.
 *
 * Memory is bounded whatever the number of proxies: reports from every proxy
 * are summed into one series per (source, host, version) or (source, host,
 * endpoint), each a fixed ring of time slots, and the number of series is
 * capped (least recently written evicted first). Per-proxy state (cumulative →
 * delta) lives with the proxy's stream, not here.
 */
import { SluiceError } from '../core/errors.js';

export type TelemetrySource = 'lrs' | 'statsSink';

/** Latency bucket upper bounds in ms: Envoy's default histogram buckets, so sidecar histograms map 1:1. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]);

export interface TelemetryStoreOptions {
  /** Width of one time slot (default 1 s; tests with sub-second canary intervals use less). */
  readonly slotMs?: number;
  /** How far back windows can look (default 10 min). */
  readonly retentionMs?: number;
  /** Most series kept (default 20,000). */
  readonly maxSeries?: number;
  readonly now?: () => number;
}

export interface WindowStats {
  readonly requests: number;
  readonly successes: number;
  readonly errors: number;
  /** Percent, undefined without requests. */
  readonly successRate?: number;
  /** Requests with a latency observation. */
  readonly latencySamples: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** The time span the numbers cover. */
  readonly windowMs: number;
}

export class TelemetryError extends SluiceError {}

/** One series: ring of slots, each with success/error counts and a latency histogram. */
class Series {
  readonly successes: Float64Array;
  readonly errors: Float64Array;
  /** slots × (bounds + 1 overflow bucket), non-cumulative counts. */
  readonly latency: Float64Array;
  /** The slot index (time / slotMs) each ring position holds. */
  readonly epochs: Float64Array;
  lastWrite = 0;

  constructor(readonly slots: number) {
    this.successes = new Float64Array(slots);
    this.errors = new Float64Array(slots);
    this.latency = new Float64Array(slots * (LATENCY_BOUNDS_MS.length + 1));
    this.epochs = new Float64Array(slots).fill(-1);
  }

  /** Position for a slot index, clearing it when it last held an older slot. */
  position(epoch: number): number {
    const position = epoch % this.slots;
    if (this.epochs[position] !== epoch) {
      this.epochs[position] = epoch;
      this.successes[position] = 0;
      this.errors[position] = 0;
      this.latency.fill(0, position * (LATENCY_BOUNDS_MS.length + 1), (position + 1) * (LATENCY_BOUNDS_MS.length + 1));
    }
    return position;
  }
}

const seriesKey = (source: string, host: string, kind: 'v' | 'e', id: string) => `${source}|${host}|${kind}|${id}`;

/** Where a latency of `ms` goes among LATENCY_BOUNDS_MS (last index = overflow). */
export function latencyBucket(ms: number): number {
  let low = 0;
  let high = LATENCY_BOUNDS_MS.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (ms <= LATENCY_BOUNDS_MS[mid]!) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** Quantile (0..1) from bucket counts, interpolating linearly inside the bucket (as PromQL's histogram_quantile). */
export function quantileFromBuckets(counts: ArrayLike<number>, q: number): number | undefined {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i]!;
    if (count > 0 && seen + count >= rank) {
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      // The overflow bucket has no upper bound: report its lower bound, as Prometheus does.
      if (i >= LATENCY_BOUNDS_MS.length) return lower;
      const upper = LATENCY_BOUNDS_MS[i]!;
      return lower + ((upper - lower) * (rank - seen)) / count;
    }
    seen += count;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}

export interface LatencyObservation {
  /** Upper bounds in ms, ascending; counts are per bucket (not cumulative); one more count than bounds means an overflow bucket. */
  readonly boundsMs: readonly number[];
  readonly counts: readonly number[];
}

/** One slot of a version series as replicas share it (telemetry-sharing.ts): latency as sparse [bucket, count] pairs. */
export interface SharedSlot {
  readonly epoch: number;
  readonly successes: number;
  readonly errors: number;
  readonly latency?: ReadonlyArray<readonly [number, number]>;
}

/** A series as replicas share it: a service version's, or (with `endpoint`) one endpoint's. */
export interface SharedSeries {
  readonly source: TelemetrySource;
  readonly host: string;
  readonly version?: string;
  readonly endpoint?: string;
  readonly slots: readonly SharedSlot[];
}

/** Per-version and per-endpoint slots a replica sends the leader; `slotMs` must match the leader's. */
export interface SharedWindows {
  readonly slotMs: number;
  readonly series: readonly SharedSeries[];
}

/** Most other replicas whose windows are kept (a control plane runs a handful). */
export const MAX_PEERS = 16;

export class TelemetryStore {
  readonly slotMs: number;
  readonly #slots: number;
  readonly #retentionMs: number;
  readonly #maxSeries: number;
  readonly #now: () => number;
  readonly #series = new Map<string, Series>();
  /** Other replicas' version series, by replica; summed into every window (the leader judges on all the mesh's traffic). */
  readonly #peers = new Map<string, { lastSeen: number; series: Map<string, Series> }>();
  #samples = 0;
  #evictions = 0;

  constructor(options: TelemetryStoreOptions = {}) {
    this.slotMs = options.slotMs ?? 1000;
    const retention = options.retentionMs ?? 10 * 60_000;
    if (!(this.slotMs > 0) || !(retention >= this.slotMs)) throw new TelemetryError('telemetry-options', `slotMs ${this.slotMs} and retentionMs ${retention} must be positive, retention ≥ slot`);
    this.#slots = Math.ceil(retention / this.slotMs) + 1;
    this.#retentionMs = retention;
    this.#maxSeries = options.maxSeries ?? 20_000;
    this.#now = options.now ?? Date.now;
  }

  /** Samples (counter or histogram updates) ingested since start. */
  get samples(): number {
    return this.#samples;
  }

  get seriesCount(): number {
    return this.#series.size;
  }

  #get(key: string): Series {
    let series = this.#series.get(key);
    if (series) {
      // Map order is insertion order: re-inserting keeps it least-recently-written first.
      this.#series.delete(key);
      this.#series.set(key, series);
      return series;
    }
    if (this.#series.size >= this.#maxSeries) {
      const oldest = this.#series.keys().next().value as string;
      this.#series.delete(oldest);
      this.#evictions++;
    }
    series = new Series(this.#slots);
    this.#series.set(key, series);
    return series;
  }

  #epoch(at: number): number {
    return Math.floor(at / this.slotMs);
  }

  /** Finished requests of one service version, as summed by a proxy since its last report. */
  recordVersion(source: TelemetrySource, host: string, version: string, successes: number, errors: number, latency?: LatencyObservation): void {
    this.#record(seriesKey(source, host, 'v', version), successes, errors, latency);
  }

  /** Finished requests to one endpoint (`address:port`) of a service. */
  recordEndpoint(source: TelemetrySource, host: string, endpoint: string, successes: number, errors: number): void {
    this.#record(seriesKey(source, host, 'e', endpoint), successes, errors);
  }

  #record(key: string, successes: number, errors: number, latency?: LatencyObservation): void {
    if (!(successes >= 0) || !(errors >= 0)) return;
    const now = this.#now();
    const series = this.#get(key);
    const position = series.position(this.#epoch(now));
    series.lastWrite = now;
    series.successes[position] = series.successes[position]! + successes;
    series.errors[position] = series.errors[position]! + errors;
    this.#samples++;
    if (latency) {
      const base = position * (LATENCY_BOUNDS_MS.length + 1);
      for (let i = 0; i < latency.counts.length; i++) {
        const count = latency.counts[i]!;
        if (!(count > 0)) continue;
        // A foreign bucket is filed under ours by its upper bound (overflow → overflow): never under-reports latency.
        const bound = i < latency.boundsMs.length ? latency.boundsMs[i]! : Number.POSITIVE_INFINITY;
        const index = base + latencyBucket(bound);
        series.latency[index] = series.latency[index]! + count;
      }
      this.#samples++;
    }
  }

  #window(key: string, windowMs: number): WindowStats {
    const now = this.#now();
    const all: Series[] = [];
    const local = this.#series.get(key);
    if (local) all.push(local);
    for (const peer of this.#peers.values()) {
      const shared = peer.lastSeen >= now - this.#retentionMs ? peer.series.get(key) : undefined;
      if (shared) all.push(shared);
    }
    const slotsBack = Math.max(1, Math.min(this.#slots - 1, Math.ceil(windowMs / this.slotMs)));
    const empty: WindowStats = { requests: 0, successes: 0, errors: 0, latencySamples: 0, windowMs: slotsBack * this.slotMs };
    if (all.length === 0) return empty;
    const current = this.#epoch(now);
    let successes = 0;
    let errors = 0;
    const buckets = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
    // The current slot is still filling: include it, and count `slotsBack` slots in all.
    for (const series of all) {
      for (let epoch = current - slotsBack + 1; epoch <= current; epoch++) {
        if (epoch < 0) continue;
        const position = epoch % series.slots;
        if (series.epochs[position] !== epoch) continue;
        successes += series.successes[position]!;
        errors += series.errors[position]!;
        const base = position * (LATENCY_BOUNDS_MS.length + 1);
        for (let i = 0; i < buckets.length; i++) buckets[i]! += series.latency[base + i]!;
      }
    }
    const requests = successes + errors;
    let latencySamples = 0;
    for (const count of buckets) latencySamples += count;
    return {
      requests,
      successes,
      errors,
      successRate: requests > 0 ? (100 * successes) / requests : undefined,
      latencySamples,
      p50Ms: quantileFromBuckets(buckets, 0.5),
      p99Ms: quantileFromBuckets(buckets, 0.99),
      windowMs: slotsBack * this.slotMs,
    };
  }

  /** Requests of one version over the last `windowMs`. */
  versionWindow(source: TelemetrySource, host: string, version: string, windowMs: number): WindowStats {
    return this.#window(seriesKey(source, host, 'v', version), windowMs);
  }

  /** Every endpoint of `host` with data in the last `windowMs`, keyed `address:port`. */
  endpointWindows(host: string, windowMs: number): Map<string, WindowStats> {
    const result = new Map<string, WindowStats>();
    for (const key of this.#recentKeys(windowMs)) {
      const [source, keyHost, kind, ...rest] = key.split('|');
      if (kind !== 'e' || keyHost !== host) continue;
      const endpoint = rest.join('|');
      const stats = this.#window(key, windowMs);
      const previous = result.get(endpoint);
      // LRS and the stats sink report different proxies (proxyless vs sidecars): their counts add up.
      result.set(endpoint, previous && source ? sumStats(previous, stats) : stats);
    }
    return result;
  }

  /** Hosts with endpoint data in the last `windowMs`. */
  endpointHosts(windowMs: number): Set<string> {
    const hosts = new Set<string>();
    for (const key of this.#recentKeys(windowMs)) {
      const [, host, kind] = key.split('|');
      if (kind === 'e' && host) hosts.add(host);
    }
    return hosts;
  }

  /** Keys of series written in the last `windowMs`, here or by another replica (each key once: #window sums them). */
  #recentKeys(windowMs: number): Set<string> {
    const now = this.#now();
    const since = now - windowMs - this.slotMs;
    const keys = new Set<string>();
    for (const [key, series] of this.#series) if (series.lastWrite >= since) keys.add(key);
    for (const peer of this.#peers.values()) {
      if (peer.lastSeen < now - this.#retentionMs) continue;
      for (const [key, series] of peer.series) if (series.lastWrite >= since) keys.add(key);
    }
    return keys;
  }

  /** Forget an endpoint's history (after it returns from ejection it starts afresh). */
  forgetEndpoint(host: string, endpoint: string): void {
    for (const source of ['lrs', 'statsSink'] as const) {
      const key = seriesKey(source, host, 'e', endpoint);
      this.#series.delete(key);
      // Other replicas' history of it too: only slots they send from now on count.
      for (const peer of this.#peers.values()) peer.series.delete(key);
    }
  }

  /** The slot index of now: a replica shares the slots from some index on. */
  currentEpoch(): number {
    return this.#epoch(this.#now());
  }

  /** Local series' slots (versions and endpoints) with data from `fromEpoch` on (never other replicas' data: no echo). */
  exportSlots(fromEpoch: number): SharedWindows {
    const current = this.#epoch(this.#now());
    const from = Math.max(fromEpoch, current - this.#slots + 1);
    const series: SharedSeries[] = [];
    for (const [key, local] of this.#series) {
      const [source, host, kind, ...rest] = key.split('|');
      if ((kind !== 'v' && kind !== 'e') || !host) continue;
      const slots: SharedSlot[] = [];
      for (let epoch = from; epoch <= current; epoch++) {
        const position = epoch % local.slots;
        if (epoch < 0 || local.epochs[position] !== epoch) continue;
        const base = position * (LATENCY_BOUNDS_MS.length + 1);
        const latency: Array<[number, number]> = [];
        for (let i = 0; i <= LATENCY_BOUNDS_MS.length; i++) if (local.latency[base + i]! > 0) latency.push([i, local.latency[base + i]!]);
        slots.push({ epoch, successes: local.successes[position]!, errors: local.errors[position]!, ...(latency.length ? { latency } : {}) });
      }
      const id = rest.join('|');
      if (slots.length > 0) series.push({ source: source as TelemetrySource, host, ...(kind === 'v' ? { version: id } : { endpoint: id }), slots });
    }
    return { slotMs: this.slotMs, series };
  }

  /**
   * Another replica's slots: each replaces what that replica sent before for
   * the same slot (a retried or overlapping send never counts twice).
   */
  importPeer(peer: string, windows: SharedWindows): void {
    if (windows.slotMs !== this.slotMs) throw new TelemetryError('telemetry-peer-slot', `replica ${peer} uses ${windows.slotMs} ms telemetry slots, this one ${this.slotMs} ms`, { peer });
    let entry = this.#peers.get(peer);
    if (!entry) {
      if (this.#peers.size >= MAX_PEERS) {
        // The replica heard from least recently goes (it has most likely been replaced).
        const stalest = [...this.#peers].sort((a, b) => a[1].lastSeen - b[1].lastSeen)[0]!;
        this.#peers.delete(stalest[0]);
      }
      entry = { lastSeen: 0, series: new Map() };
      this.#peers.set(peer, entry);
    }
    const now = this.#now();
    entry.lastSeen = now;
    const oldest = this.#epoch(now) - this.#slots + 1;
    for (const shared of windows.series) {
      const key = shared.endpoint !== undefined ? seriesKey(shared.source, shared.host, 'e', shared.endpoint) : seriesKey(shared.source, shared.host, 'v', shared.version ?? '');
      let series = entry.series.get(key);
      if (!series) {
        if (entry.series.size >= this.#maxSeries) continue;
        series = new Series(this.#slots);
        entry.series.set(key, series);
      }
      for (const slot of shared.slots) {
        if (slot.epoch < oldest) continue;
        const position = series.position(slot.epoch);
        series.successes[position] = slot.successes;
        series.errors[position] = slot.errors;
        const base = position * (LATENCY_BOUNDS_MS.length + 1);
        series.latency.fill(0, base, base + LATENCY_BOUNDS_MS.length + 1);
        for (const [bucket, count] of slot.latency ?? []) if (bucket >= 0 && bucket <= LATENCY_BOUNDS_MS.length) series.latency[base + bucket] = count;
      }
      series.lastWrite = now;
    }
  }

  /** Replicas whose windows are summed in, and when each was last heard from. */
  peers(): Array<{ peer: string; lastSeen: string; series: number }> {
    return [...this.#peers].map(([peer, entry]) => ({ peer, lastSeen: new Date(entry.lastSeen).toISOString(), series: entry.series.size }));
  }

  /** For /debug/telemetry: every series with data in the last `windowMs`. */
  debugView(windowMs = 60_000): { slotMs: number; series: number; maxSeries: number; evictions: number; samples: number; versions: unknown[]; endpoints: unknown[] } {
    const versions: unknown[] = [];
    const endpoints: unknown[] = [];
    const since = this.#now() - windowMs;
    for (const [key, series] of this.#series) {
      if (series.lastWrite < since) continue;
      const [source, host, kind, ...rest] = key.split('|');
      const stats = this.#window(key, windowMs);
      const row = { source, host, ...(kind === 'v' ? { version: rest.join('|') } : { endpoint: rest.join('|') }), ...roundStats(stats) };
      (kind === 'v' ? versions : endpoints).push(row);
    }
    return { slotMs: this.slotMs, series: this.#series.size, maxSeries: this.#maxSeries, evictions: this.#evictions, samples: this.#samples, versions, endpoints };
  }
}

function sumStats(a: WindowStats, b: WindowStats): WindowStats {
  const requests = a.requests + b.requests;
  const successes = a.successes + b.successes;
  return { ...a, requests, successes, errors: a.errors + b.errors, successRate: requests > 0 ? (100 * successes) / requests : undefined };
}

function roundStats(stats: WindowStats): Record<string, number | undefined> {
  const round = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 100) / 100);
  return { windowMs: stats.windowMs, requests: stats.requests, errors: stats.errors, successRate: round(stats.successRate), latencySamples: stats.latencySamples, p50Ms: round(stats.p50Ms), p99Ms: round(stats.p99Ms) };
}
