/**
 * Overrides: how the control plane itself changes the model — the canary
 * controller replacing a service's routes, mesh-wide ejection taking an
 * endpoint out — as typed edits of the IR, never as rewritten manifests or
 * Envoy resources. The store applies them on top of the user's last good
 * snapshot; every proxy then converges through the normal translate → xDS path.
 */
import type { ConfigIssue } from '../core/errors.js';
import { contentHash } from '../lib/canonical-json.js';
import { deepFreeze } from '../core/source-object.js';
import { FrozenMap } from '../lib/frozen-map.js';
import { serviceFingerprint, type Endpoint, type MeshService, type ServiceHost, type Snapshot } from './snapshot.js';
import { sameUserIdSource, type Route, type ServiceTraffic, type UserIdSource } from './traffic.js';
import { validateRoutes } from './validate-traffic.js';

export type ModelOverride =
  /** Serve these routes for the service instead of its policy's (a canary owns its service's routes). */
  | {
      readonly kind: 'routes';
      readonly service: ServiceHost;
      readonly routes: readonly Route[];
      /** Where these routes read user IDs (a canary's cohort): splits become sticky by them too, unless the policy asked for per-request splits. */
      readonly userIdSources?: readonly UserIdSource[];
    }
  /** Send this endpoint as not ready (UNHEALTHY in EDS), on the service port whose endpoint port is `port`. */
  | { readonly kind: 'endpoint-not-ready'; readonly service: ServiceHost; readonly address: string; readonly port: number };

export type OverrideResult = { readonly ok: true; readonly snapshot: Snapshot } | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

function endpointListens(service: MeshService, endpoint: Endpoint, port: number): boolean {
  return service.ports.some((p) => (endpoint.ports[p.name] ?? (typeof p.targetPort === 'number' ? p.targetPort : undefined)) === port);
}

/** The service's sticky sources with `extra` added (in order, without repeats). */
function stickyWith(traffic: ServiceTraffic, extra: readonly UserIdSource[] | undefined): Pick<ServiceTraffic, 'stickyUsers'> {
  if (!extra?.length || traffic.perRequestSplit) return {};
  const sources = [...(traffic.stickyUsers ?? [])];
  for (const source of extra) if (!sources.some((known) => sameUserIdSource(known, source))) sources.push(source);
  return { stickyUsers: sources };
}

/**
 * Apply `overrides` to `snapshot`. An override naming a service that no longer
 * exists (or no longer has a policy) is stale and skipped: the user removed
 * what it was about. An override that would make the IR invalid (unknown
 * version, weights not summing to 100) refuses the whole set.
 */
export function applyOverrides(snapshot: Snapshot, overrides: readonly ModelOverride[]): OverrideResult {
  const changed = new Map<ServiceHost, MeshService>();
  const issues: ConfigIssue[] = [];
  const applied: ModelOverride[] = [];
  for (const override of overrides) {
    const service = changed.get(override.service) ?? snapshot.services.get(override.service);
    if (!service) continue;
    if (override.kind === 'routes') {
      if (!service.traffic) continue;
      const problems = validateRoutes(service, override.routes);
      if (problems.length > 0) {
        issues.push(...problems);
        continue;
      }
      changed.set(service.host, { ...service, traffic: { ...service.traffic, routes: override.routes, ...stickyWith(service.traffic, override.userIdSources) } });
    } else {
      const hit = (e: Endpoint) => e.address === override.address && e.ready && endpointListens(service, e, override.port);
      if (!service.endpoints.some(hit)) continue;
      const mark = (endpoints: readonly Endpoint[]) => endpoints.map((e) => (hit(e) ? { ...e, ready: false } : e));
      const versions = new Map([...service.versions].map(([name, version]) => [name, { ...version, endpoints: mark(version.endpoints) }]));
      changed.set(service.host, { ...service, endpoints: mark(service.endpoints), versions: new FrozenMap(versions) });
    }
    applied.push(override);
  }
  if (issues.length > 0) return { ok: false, issues };
  if (changed.size === 0) return { ok: true, snapshot };
  const services = new Map(snapshot.services);
  for (const [host, service] of changed) {
    const { fingerprint: _previous, ...content } = service;
    services.set(host, { ...content, fingerprint: serviceFingerprint(content) });
  }
  return {
    ok: true,
    snapshot: deepFreeze({ ...snapshot, version: contentHash([snapshot.version, applied]), services: new FrozenMap(services) }),
  };
}
