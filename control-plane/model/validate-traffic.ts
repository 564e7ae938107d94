/**
 * The IR's own rules, gathered (not first-error): every route names a
 * version the service defines, lists each version once and splits exactly
 * 100%; route names are unique. The model runs them on the user's policies
 * (with file positions) and on every override (the canary controller's routes).
 */
import type { ConfigErrorCode, ConfigIssue } from '../core/errors.js';
import { formatFieldPath, type FieldPath } from '../core/source-object.js';
import type { MeshService } from './snapshot.js';
import type { Route, ServiceTraffic } from './traffic.js';

export interface TrafficProblem {
  readonly code: ConfigErrorCode;
  /** Where in the TrafficPolicy manifest: `['spec', 'routes', 0, 'to']`. */
  readonly path: FieldPath;
  readonly message: string;
}

export function routeProblems(versions: ReadonlySet<string>, routes: readonly Route[]): TrafficProblem[] {
  const problems: TrafficProblem[] = [];
  const names = new Map<string, number>();
  routes.forEach((route, index) => {
    const earlier = names.get(route.name);
    if (earlier !== undefined) problems.push({ code: 'duplicate-route', path: ['spec', 'routes', index, 'name'], message: `route name "${route.name}" is already used by spec.routes[${earlier}]` });
    else names.set(route.name, index);
    route.destinations.forEach((destination, toIndex) => {
      if (!versions.has(destination.version)) {
        problems.push({ code: 'unknown-version', path: ['spec', 'routes', index, 'to', toIndex, 'version'], message: `version "${destination.version}" is not in spec.versions (${[...versions].sort().join(', ')})` });
      }
    });
    const sum = route.destinations.reduce((total, destination) => total + destination.weight, 0);
    if (sum !== 100) problems.push({ code: 'weights-sum', path: ['spec', 'routes', index, 'to'], message: `weights must sum to 100, got ${sum}` });
    const seen = new Set<string>();
    route.destinations.forEach((destination, toIndex) => {
      if (seen.has(destination.version)) problems.push({ code: 'duplicate-route', path: ['spec', 'routes', index, 'to', toIndex, 'version'], message: `version "${destination.version}" is listed twice` });
      seen.add(destination.version);
    });
  });
  return problems;
}

export function trafficProblems(versions: ReadonlySet<string>, traffic: ServiceTraffic): TrafficProblem[] {
  const problems = routeProblems(versions, traffic.routes);
  const retry = traffic.retry;
  if (retry?.retryOn.includes('retriable-status-codes') && retry.retriableStatusCodes.length === 0) {
    problems.push({ code: 'schema', path: ['spec', 'retries'], message: 'retryOn includes retriable-status-codes, so retriableStatusCodes must list at least one status code' });
  }
  return problems;
}

/** Routes proposed by an override, checked against the service they would replace routes of. */
export function validateRoutes(service: MeshService, routes: readonly Route[]): ConfigIssue[] {
  return routeProblems(new Set(service.versions.keys()), routes).map((problem) => ({
    code: problem.code,
    object: service.traffic?.policy,
    field: formatFieldPath(problem.path),
    message: problem.message,
  }));
}
