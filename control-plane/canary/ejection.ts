/**
 * Mesh-wide ejection. Envoy's outlier detection is per proxy: every sidecar
 * has to fail on a bad endpoint by itself. Here per-endpoint errors from every
 * proxy (LRS and the stats sink) are summed; an endpoint whose error rate over
 * the last interval reaches the bound, with at least minRequests requests, is
 * taken out of EDS for everyone: an `endpoint-not-ready` model override sends
 * it as UNHEALTHY, which Envoy and gRPC skip.
 *
 * Like Envoy's: at most maxEjectionPercent of a service's endpoints are out at
 * once (but at least one may be), and an endpoint stays out for
 * baseEjection × the number of times it was ejected (capped by maxEjection),
 * then returns with a clean history. A TrafficPolicy's outlierDetection
 * maxEjectionPercent and baseEjectionTime override the defaults for its
 * service.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import type { MeshService } from '../model/snapshot.js';
import type { ModelOverride } from '../model/overrides.js';
import type { SnapshotStore } from '../model/store.js';
import type { ServiceTraffic } from '../model/traffic.js';
import { endpointKey } from '../telemetry/locality-index.js';
import type { TelemetryStore } from '../telemetry/telemetry-store.js';

export interface EjectionSettings {
  /** How often endpoints are judged, and the window judged (default 10 s). */
  readonly intervalMs?: number;
  /** Error share (0..1) at which an endpoint is ejected (default 0.5). */
  readonly errorRate?: number;
  /** Requests an endpoint needs in the interval to be judged at all (default 20). */
  readonly minRequests?: number;
  readonly baseEjectionMs?: number;
  readonly maxEjectionMs?: number;
  readonly maxEjectionPercent?: number;
}

export interface MeshEjectorOptions {
  readonly store: SnapshotStore;
  readonly telemetry: TelemetryStore;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly settings?: EjectionSettings;
  readonly isActive?: () => boolean;
  readonly now?: () => number;
}

interface Ejection {
  readonly host: string;
  readonly namespace: string;
  readonly service: string;
  readonly endpoint: string;
  readonly since: number;
  readonly until: number;
  readonly times: number;
  readonly errorRate: number;
  readonly requests: number;
}

/** `10.0.0.1:8080` / `[::1]:8080` → address and port. */
export function splitEndpoint(key: string): { address: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(key);
  return match ? { address: match[1]!, port: Number(match[2]) } : undefined;
}

function serviceEndpointKeys(service: MeshService): Set<string> {
  const keys = new Set<string>();
  for (const endpoint of service.endpoints) {
    for (const port of service.ports) {
      const value = endpoint.ports[port.name] ?? (typeof port.targetPort === 'number' ? port.targetPort : undefined);
      if (value !== undefined) keys.add(endpointKey(endpoint.address, value));
    }
  }
  return keys;
}

/** The overrides: each ejected endpoint not ready on the port it was judged on. */
export function ejectionOverrides(ejections: readonly Pick<Ejection, 'host' | 'endpoint'>[]): ModelOverride[] {
  const overrides: ModelOverride[] = [];
  for (const ejection of ejections) {
    const split = splitEndpoint(ejection.endpoint);
    if (split) overrides.push({ kind: 'endpoint-not-ready', service: ejection.host, address: split.address, port: split.port });
  }
  return overrides;
}

export class MeshEjector {
  readonly #ejected = new Map<string, Ejection>();
  /** Times ejected, and when it last returned, per endpoint: the back-off multiplier. */
  readonly #history = new Map<string, { times: number; returnedAt: number }>();
  readonly #settings: Required<EjectionSettings>;
  readonly #now: () => number;
  #timer?: NodeJS.Timeout;
  #limitedLogged = new Set<string>();
  readonly #ejections: Counter;
  readonly #ejectedGauge: Gauge;

  constructor(private readonly options: MeshEjectorOptions) {
    const s = options.settings ?? {};
    this.#settings = {
      intervalMs: s.intervalMs ?? 10_000,
      errorRate: s.errorRate ?? 0.5,
      minRequests: s.minRequests ?? 20,
      baseEjectionMs: s.baseEjectionMs ?? 30_000,
      maxEjectionMs: s.maxEjectionMs ?? 300_000,
      maxEjectionPercent: s.maxEjectionPercent ?? 10,
    };
    this.#now = options.now ?? Date.now;
    this.#ejections = new Counter({ name: 'sluice_mesh_ejections_total', help: 'Endpoints ejected mesh-wide.', labelNames: ['service'], registers: [options.registry] });
    this.#ejectedGauge = new Gauge({ name: 'sluice_mesh_ejected_endpoints', help: 'Endpoints currently ejected mesh-wide.', labelNames: ['service'], registers: [options.registry] });
  }

  get settings(): Required<EjectionSettings> {
    return this.#settings;
  }

  start(): void {
    this.#timer = setInterval(() => this.evaluate(), this.#settings.intervalMs);
    this.#timer.unref?.();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  ejected(): Ejection[] {
    return [...this.#ejected.values()];
  }

  #policySettings(traffic: ServiceTraffic | undefined): { baseEjectionMs: number; maxEjectionPercent: number } {
    const od = traffic?.outlierDetection;
    return {
      baseEjectionMs: od?.baseEjectionTime || this.#settings.baseEjectionMs,
      maxEjectionPercent: od?.maxEjectionPercent ?? this.#settings.maxEjectionPercent,
    };
  }

  /** One judgement round; returns whether the ejected set changed. */
  evaluate(): boolean {
    if (!(this.options.isActive?.() ?? true)) return false;
    const snapshot = this.options.store.base;
    if (!snapshot) return false;
    const now = this.#now();
    let changed = false;
    for (const [key, ejection] of this.#ejected) {
      const service = snapshot.services.get(ejection.host);
      const gone = !service || !serviceEndpointKeys(service).has(ejection.endpoint);
      if (ejection.until > now && !gone) continue;
      this.#ejected.delete(key);
      this.#history.set(key, { times: ejection.times, returnedAt: now });
      this.options.telemetry.forgetEndpoint(ejection.host, ejection.endpoint);
      changed = true;
      this.options.logger.info({ service: ejection.host, endpoint: ejection.endpoint, ejectedForMs: now - ejection.since, reason: gone ? 'endpoint left the mesh' : 'back-off over' }, 'endpoint returns from mesh-wide ejection');
    }
    const { intervalMs, errorRate, minRequests, maxEjectionMs } = this.#settings;
    for (const host of this.options.telemetry.endpointHosts(intervalMs)) {
      const service = snapshot.services.get(host);
      if (!service) continue;
      const known = serviceEndpointKeys(service);
      const { baseEjectionMs, maxEjectionPercent } = this.#policySettings(service.traffic);
      const candidates = [...this.options.telemetry.endpointWindows(host, intervalMs)]
        .filter(([endpoint, stats]) => known.has(endpoint) && !this.#ejected.has(`${host}|${endpoint}`) && stats.requests >= minRequests && stats.errors / stats.requests >= errorRate)
        .sort(([, a], [, b]) => b.errors / b.requests - a.errors / a.requests);
      for (const [endpoint, stats] of candidates) {
        const out = [...this.#ejected.values()].filter((e) => e.host === host).length;
        // Envoy's rule: the percentage caps ejections, but one endpoint may always go.
        const allowed = Math.max(1, Math.floor((known.size * maxEjectionPercent) / 100));
        if (out >= allowed) {
          if (!this.#limitedLogged.has(`${host}|${endpoint}`)) {
            this.#limitedLogged.add(`${host}|${endpoint}`);
            this.options.logger.warn({ service: host, endpoint, ejected: out, maxEjectionPercent, endpoints: known.size }, 'endpoint failing mesh-wide but maxEjectionPercent reached: not ejected');
          }
          continue;
        }
        const key = `${host}|${endpoint}`;
        const history = this.#history.get(key);
        // A long healthy spell resets the back-off.
        const times = history && now - history.returnedAt < maxEjectionMs ? history.times + 1 : 1;
        const duration = Math.min(baseEjectionMs * times, Math.max(maxEjectionMs, baseEjectionMs));
        const ejection: Ejection = { host, namespace: service.namespace, service: service.name, endpoint, since: now, until: now + duration, times, errorRate: stats.errors / stats.requests, requests: stats.requests };
        this.#ejected.set(key, ejection);
        this.#limitedLogged.delete(key);
        this.#ejections.inc({ service: host });
        changed = true;
        this.options.logger.warn({ service: host, endpoint, errorRate: Math.round(ejection.errorRate * 1000) / 10, requests: stats.requests, ejectedForMs: duration, times }, 'endpoint failing for the whole mesh: ejected from EDS');
      }
    }
    if (changed) {
      this.#ejectedGauge.reset();
      for (const e of this.#ejected.values()) this.#ejectedGauge.inc({ service: e.host });
      const issues = this.options.store.setOverrides('ejection', ejectionOverrides([...this.#ejected.values()]));
      if (issues.length) this.options.logger.error({ issues: issues.slice(0, 5) }, 'ejection refused by the model');
    }
    return changed;
  }
}
