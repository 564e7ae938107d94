/**
 * The typed intermediate representation (IR) of a service's traffic: what a
 * TrafficPolicy asks for, with every user-facing shape already resolved —
 * durations in milliseconds, defaults applied, matchers tagged by kind. The
 * translator reads only this, never a manifest; the canary controller and
 * mesh-wide ejection change it through overrides (model/overrides.ts).
 *
 * Everything here is plain, serializable data (the IR goldens print it).
 */
import type { ObjectReference } from '../core/errors.js';

/** Durations in the IR are whole milliseconds. */
export type Milliseconds = number;

/** How a string is compared. `oneOf` is a set of exact values (user-ID cohorts). */
export type StringMatch =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'regex'; readonly pattern: string }
  | { readonly kind: 'oneOf'; readonly values: readonly string[] };

export type PathMatch =
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'regex'; readonly pattern: string };

export type HeaderMatch =
  /** `name` is lower-case, as HTTP/2 and Envoy see header names. */
  | { readonly name: string; readonly kind: 'present'; readonly present: boolean }
  | { readonly name: string; readonly kind: 'string'; readonly match: StringMatch };

/** Where the user ID is read: a request header, or a JSON Pointer into the JSON body. */
export type UserIdSource = { readonly kind: 'header'; readonly name: string } | { readonly kind: 'jsonBody'; readonly pointer: string };

export interface UserIdMatch {
  readonly source: UserIdSource;
  readonly match: StringMatch;
}

export interface RouteMatch {
  readonly path: PathMatch;
  readonly headers: readonly HeaderMatch[];
  readonly userId?: UserIdMatch;
}

export interface WeightedDestination {
  readonly version: string;
  /** Percent, 0–100; a route's weights sum to 100. */
  readonly weight: number;
}

export interface Route {
  readonly name: string;
  readonly match: RouteMatch;
  readonly destinations: readonly WeightedDestination[];
}

export interface RetryPolicy {
  /** 0 turns retries off. */
  readonly attempts: number;
  readonly perTryTimeout?: Milliseconds;
  /** Envoy `retry_on` conditions (gRPC clients keep only the gRPC status ones). */
  readonly retryOn: readonly string[];
  readonly retriableStatusCodes: readonly number[];
}

export interface CircuitBreaker {
  readonly maxConnections?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
  readonly maxRetries?: number;
}

export interface OutlierDetection {
  readonly consecutive5xx?: number;
  readonly interval?: Milliseconds;
  readonly baseEjectionTime?: Milliseconds;
  readonly maxEjectionPercent?: number;
}

/** A service's traffic settings; present only when a TrafficPolicy names the service. */
export interface ServiceTraffic {
  /** The TrafficPolicy this came from (for messages and status). */
  readonly policy: ObjectReference;
  /** In order; the first match wins. Without a catch-all, translation adds a default route to the whole service. */
  readonly routes: readonly Route[];
  /**
   * Where requests carry the user ID that pins a user to one version of a
   * weighted split (model/sticky-users.ts), tried in order; absent when splits
   * choose per request.
   */
  readonly stickyUsers?: readonly UserIdSource[];
  /** The policy asked for per-request splits (`stickyBy: request`): a canary's cohort does not make them sticky either. */
  readonly perRequestSplit?: true;
  /** Calls addressed to the service's pods (ip:port, client-side discovery) are routed by this policy too. */
  readonly podAddressCalls?: boolean;
  /** Whole-request timeout; undefined leaves the proxy's own default (none on a sidecar). */
  readonly timeout?: Milliseconds;
  /** Undefined when the policy says nothing (sidecars then get the mesh default). */
  readonly retry?: RetryPolicy;
  readonly circuitBreaker?: CircuitBreaker;
  readonly outlierDetection?: OutlierDetection;
}

/** Two sources are the same place in a request. */
export function sameUserIdSource(a: UserIdSource, b: UserIdSource): boolean {
  return a.kind === 'header' ? b.kind === 'header' && a.name === b.name : b.kind === 'jsonBody' && a.pointer === b.pointer;
}

/** A route that matches every request: routes after it are never used. */
export function matchesEverything(match: RouteMatch): boolean {
  return match.path.kind === 'prefix' && match.path.value === '/' && match.headers.length === 0 && match.userId === undefined;
}

/** The match of a route without conditions. */
export const matchEverything: RouteMatch = Object.freeze({ path: Object.freeze({ kind: 'prefix', value: '/' }), headers: Object.freeze([]) }) as RouteMatch;
