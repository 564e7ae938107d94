/**
 * What each proxy kind cannot take, found in the user's policies before any
 * proxy connects: `sluice validate` prints all of it, `sluice translate` what
 * concerns the proxy it was asked about. The translator already adapts
 * proxyless output (JSON-body routes left out, HTTP retry conditions dropped,
 * failure-percentage ejection); what it cannot adapt is a regex that some
 * clients' RE2 rejects, which would make those clients NACK the route table.
 */
import type { TrafficPolicySpec, CanarySpec, UserIdMatchSpec } from '../api/types.js';
import type { Snapshot } from '../model/snapshot.js';
import type { ProxyMode } from './proxy-scope.js';

export type ClientFeatureCode = 'json-body-user-id' | 'http-retry-conditions' | 'consecutive-5xx' | 'regex-angle-named-group';

export interface ClientFeatureWarning {
  readonly code: ClientFeatureCode;
  readonly object: { readonly kind: 'TrafficPolicy' | 'Canary'; readonly namespace: string; readonly name: string };
  readonly field: string;
  /** The proxies concerned. */
  readonly proxies: ProxyMode;
  readonly message: string;
}

/** Conditions gRPC clients retry on (gRPC status codes); the rest are Envoy's HTTP conditions. */
const grpcRetryConditions: ReadonlySet<string> = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

/**
 * True when the pattern has a `(?<name>…)` group — not a `(?<=`/`(?<!`
 * look-behind, not escaped, not inside a character class. RE2 accepts this
 * spelling only since 2023; older RE2 (in gRPC C-core as Debian 12 ships it)
 * knows only `(?P<name>…)`.
 */
export function usesAngleNamedGroup(pattern: string): boolean {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++; // a leading ] is a literal
      continue;
    }
    if (c === '(' && pattern.startsWith('?<', i + 1) && pattern[i + 3] !== '=' && pattern[i + 3] !== '!') return true;
  }
  return false;
}

const namedGroupMessage = (pattern: string) =>
  `regex ${JSON.stringify(pattern)} uses a (?<name>…) group, which RE2 before 2023 rejects: gRPC C-core clients of that age (Debian 12's python3-grpcio 1.51, and the C++, Ruby and PHP clients on it) NACK the whole route table and keep their previous routes; write (?P<name>…) instead`;

function userIdWarnings(userId: UserIdMatchSpec | undefined, object: ClientFeatureWarning['object'], field: string): ClientFeatureWarning[] {
  if (!userId) return [];
  const warnings: ClientFeatureWarning[] = [];
  if (userId.jsonBody !== undefined) {
    warnings.push({ code: 'json-body-user-id', object, field: `${field}.jsonBody`, proxies: 'proxyless', message: 'gRPC clients cannot route on the request body: for proxyless clients this match is left out (only Envoy sidecars route on it)' });
  }
  if (userId.regex !== undefined && usesAngleNamedGroup(userId.regex)) {
    warnings.push({ code: 'regex-angle-named-group', object, field: `${field}.regex`, proxies: 'proxyless', message: namedGroupMessage(userId.regex) });
  }
  return warnings;
}

function policyWarnings(namespace: string, name: string, spec: TrafficPolicySpec): ClientFeatureWarning[] {
  const object = { kind: 'TrafficPolicy' as const, namespace, name };
  const warnings: ClientFeatureWarning[] = [];
  (spec.routes ?? []).forEach((route, r) => {
    const field = `spec.routes[${r}].match`;
    warnings.push(...userIdWarnings(route.match?.userId, object, `${field}.userId`));
    (route.match?.headers ?? []).forEach((header, h) => {
      if (header.regex !== undefined && usesAngleNamedGroup(header.regex)) warnings.push({ code: 'regex-angle-named-group', object, field: `${field}.headers[${h}].regex`, proxies: 'proxyless', message: namedGroupMessage(header.regex) });
    });
    const path = route.match?.path?.regex;
    if (path !== undefined && usesAngleNamedGroup(path)) warnings.push({ code: 'regex-angle-named-group', object, field: `${field}.path.regex`, proxies: 'proxyless', message: namedGroupMessage(path) });
  });
  const httpOnly = (spec.retries?.retryOn ?? []).filter((condition) => !grpcRetryConditions.has(condition));
  if (httpOnly.length) {
    warnings.push({ code: 'http-retry-conditions', object, field: 'spec.retries.retryOn', proxies: 'proxyless', message: `gRPC clients retry only on gRPC status codes (${[...grpcRetryConditions].join(', ')}): ${httpOnly.join(', ')} apply to Envoy sidecars only` });
  }
  if (spec.outlierDetection?.consecutive5xx !== undefined) {
    warnings.push({ code: 'consecutive-5xx', object, field: 'spec.outlierDetection.consecutive5xx', proxies: 'proxyless', message: 'gRPC clients have no consecutive-5xx ejection: they eject endpoints with ≥ 50% failures instead' });
  }
  return warnings;
}

function canaryWarnings(namespace: string, name: string, spec: CanarySpec): ClientFeatureWarning[] {
  return userIdWarnings(spec.cohort, { kind: 'Canary', namespace, name }, 'spec.cohort');
}

/** Every feature of the snapshot's policies and canaries that some proxy kind cannot take, in object order. */
export function clientFeatureWarnings(snapshot: Snapshot): ClientFeatureWarning[] {
  return [
    ...snapshot.trafficPolicies.flatMap((policy) => policyWarnings(policy.namespace, policy.name, policy.spec)),
    ...snapshot.canaries.flatMap((canary) => canaryWarnings(canary.namespace, canary.name, canary.spec)),
  ];
}

export function formatClientFeatureWarning(warning: ClientFeatureWarning): string {
  return `${warning.object.kind} ${warning.object.namespace}/${warning.object.name}: ${warning.field}: ${warning.proxies} proxies: ${warning.message}`;
}
