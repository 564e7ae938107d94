/**
 * TrafficPolicy spec → ServiceTraffic IR. The only place the policy's
 * user-facing shapes (duration strings, `values`/`prefix`/`regex` matchers,
 * optional lists) are read; the schema validator has already checked them.
 */
import type { CanarySpec, HeaderMatchSpec, RouteMatchSpec, TrafficPolicySpec, UserIdMatchSpec } from '../api/types.js';
import type { ObjectReference } from '../core/errors.js';
import { parseDuration } from '../lib/duration.js';
import type { HeaderMatch, Milliseconds, PathMatch, RetryPolicy, RouteMatch, ServiceTraffic, StringMatch, UserIdMatch } from './traffic.js';
import { matchEverything, type Route, type UserIdSource } from './traffic.js';
import { stickySources } from './sticky-users.js';

/** Retried when a policy gives attempts but no conditions: failures that cannot have reached the application. */
export const defaultRetryOn: readonly string[] = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled'];

const milliseconds = (text: string | undefined): Milliseconds | undefined => (text === undefined ? undefined : parseDuration(text));

function stringMatch(spec: { values?: string[]; prefix?: string; regex?: string; exact?: string }): StringMatch {
  if (spec.prefix !== undefined) return { kind: 'prefix', value: spec.prefix };
  if (spec.regex !== undefined) return { kind: 'regex', pattern: spec.regex };
  if (spec.exact !== undefined) return { kind: 'exact', value: spec.exact };
  const values = [...(spec.values ?? [])];
  return values.length === 1 ? { kind: 'exact', value: values[0]! } : { kind: 'oneOf', values };
}

/** A user-ID match as written in a TrafficPolicy route or a Canary's cohort. */
export function userIdMatchFromSpec(spec: UserIdMatchSpec | NonNullable<CanarySpec['cohort']>): UserIdMatch {
  return { source: userIdSourceFromSpec(spec), match: stringMatch(spec) };
}

/** Where a request carries the user ID; header names are lower-case, as proxies see them. */
export function userIdSourceFromSpec(spec: { header?: string; jsonBody?: string }): UserIdSource {
  return spec.header !== undefined ? { kind: 'header', name: spec.header.toLowerCase() } : { kind: 'jsonBody', pointer: spec.jsonBody! };
}

function headerMatch(spec: HeaderMatchSpec): HeaderMatch {
  const name = spec.name.toLowerCase();
  if (spec.present !== undefined) return { name, kind: 'present', present: spec.present };
  return { name, kind: 'string', match: stringMatch(spec) };
}

function pathMatch(spec: RouteMatchSpec['path']): PathMatch {
  if (spec?.exact !== undefined) return { kind: 'exact', value: spec.exact };
  if (spec?.regex !== undefined) return { kind: 'regex', pattern: spec.regex };
  return { kind: 'prefix', value: spec?.prefix ?? '/' };
}

export function routeMatchFromSpec(spec: RouteMatchSpec | undefined): RouteMatch {
  if (!spec) return matchEverything;
  const match: { path: PathMatch; headers: HeaderMatch[]; userId?: UserIdMatch } = { path: pathMatch(spec.path), headers: (spec.headers ?? []).map(headerMatch) };
  if (spec.userId) match.userId = userIdMatchFromSpec(spec.userId);
  return match;
}

function retryFromSpec(spec: TrafficPolicySpec['retries']): RetryPolicy | undefined {
  if (!spec) return undefined;
  const retry: { -readonly [K in keyof RetryPolicy]: RetryPolicy[K] } = {
    attempts: spec.attempts,
    retryOn: [...(spec.retryOn ?? defaultRetryOn)],
    retriableStatusCodes: [...(spec.retriableStatusCodes ?? [])],
  };
  const perTry = milliseconds(spec.perTryTimeout);
  if (perTry !== undefined) retry.perTryTimeout = perTry;
  return retry;
}

/** Drop undefined fields, so the IR (and its golden) shows only what was set. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function trafficFromPolicy(policy: ObjectReference, spec: TrafficPolicySpec): ServiceTraffic {
  const od = spec.outlierDetection;
  const routes: Route[] = (spec.routes ?? []).map((route) => ({
    name: route.name,
    match: routeMatchFromSpec(route.match),
    destinations: route.to.map(({ version, weight }) => ({ version, weight })),
  }));
  const sticky = stickySources(spec.stickyBy, spec.userId ? userIdSourceFromSpec(spec.userId) : undefined, routes);
  return defined<ServiceTraffic>({
    policy,
    routes,
    stickyUsers: sticky.length > 0 ? sticky : undefined,
    perRequestSplit: spec.stickyBy === 'request' ? true : undefined,
    podAddressCalls: spec.podAddressCalls ? true : undefined,
    timeout: milliseconds(spec.timeout),
    retry: retryFromSpec(spec.retries),
    circuitBreaker: spec.circuitBreaker ? defined({ ...spec.circuitBreaker }) : undefined,
    outlierDetection: od
      ? defined({ consecutive5xx: od.consecutive5xx, interval: milliseconds(od.interval), baseEjectionTime: milliseconds(od.baseEjectionTime), maxEjectionPercent: od.maxEjectionPercent })
      : undefined,
  });
}
