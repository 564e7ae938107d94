/**
 * Envoy RouteMatch from the IR's RouteMatch: path, headers, and the user ID —
 * from a header (any proxy) or from the JSON body (Envoy sidecars only, via
 * the json_to_metadata filter and a dynamic-metadata match).
 */
import type { HeaderMatch, RouteMatch, StringMatch, UserIdMatch } from '../model/traffic.js';
import type { EnvoyJsonTypes } from '../envoy/envoy-types.js';
import type { ProxyMode } from './proxy-scope.js';

type StringMatcherJson = EnvoyJsonTypes['envoy.type.matcher.v3.StringMatcher'];
type HeaderMatcherJson = EnvoyJsonTypes['envoy.config.route.v3.HeaderMatcher'];
export type RouteMatchJson = EnvoyJsonTypes['envoy.config.route.v3.RouteMatch'];
import { userIdMetadataNamespace } from './json-body.js';

/** Escape a literal for an RE2 pattern. */
export function re2Literal(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** Envoy StringMatcher. Many IDs become one alternation rather than one route per ID: route tables stay small. */
function stringMatcher(match: StringMatch): StringMatcherJson {
  switch (match.kind) {
    case 'exact':
      return { exact: match.value };
    case 'prefix':
      return { prefix: match.value };
    case 'regex':
      return { safe_regex: { regex: match.pattern } };
    case 'oneOf':
      return { safe_regex: { regex: `(?:${match.values.map(re2Literal).join('|')})` } };
  }
}

/**
 * A HeaderMatcher from a StringMatcher. Sidecars get `string_match`; proxyless
 * clients get the older one-of fields (`exact_match`, `prefix_match`,
 * `safe_regex_match`), because gRPC C-core before 1.53 (Debian 12 ships 1.51)
 * NACKs a route table holding `string_match` ("Invalid route header matcher
 * specified"), while every gRPC release and Envoy accept the older fields.
 */
function headerStringMatcher(name: string, matcher: StringMatcherJson, mode: ProxyMode): HeaderMatcherJson {
  if (mode !== 'proxyless') return { name, string_match: matcher };
  if ('exact' in matcher) return { name, exact_match: matcher.exact };
  if ('prefix' in matcher) return { name, prefix_match: matcher.prefix };
  return { name, safe_regex_match: matcher.safe_regex };
}

function headerMatcher(header: HeaderMatch, mode: ProxyMode): HeaderMatcherJson {
  if (header.kind === 'present') return { name: header.name, present_match: header.present };
  return headerStringMatcher(header.name, stringMatcher(header.match), mode);
}

export type MatchResult = { readonly match: RouteMatchJson } | { readonly unsupported: string };

export function routeMatch(spec: RouteMatch, mode: ProxyMode): MatchResult {
  const match: RouteMatchJson = {};
  const path = spec.path;
  if (path.kind === 'exact') match.path = path.value;
  else if (path.kind === 'regex') match.safe_regex = { regex: path.pattern };
  else match.prefix = path.value;
  if (spec.headers.length > 0) match.headers = spec.headers.map((header) => headerMatcher(header, mode));
  return spec.userId ? withUserIdCondition(match, spec.userId, mode) : { match };
}

/**
 * `match` with one more condition: the user ID matches. From a header any
 * proxy can check it; from the JSON body only an Envoy sidecar can (its
 * json_to_metadata filter lifted the ID into dynamic metadata).
 */
export function withUserIdCondition(match: RouteMatchJson, userId: UserIdMatch, mode: ProxyMode): MatchResult {
  if (userId.source.kind === 'header') {
    return { match: { ...match, headers: [...(match.headers ?? []), headerStringMatcher(userId.source.name, stringMatcher(userId.match), mode)] } };
  }
  if (mode === 'proxyless') {
    return { unsupported: `user ID from the JSON body (${userId.source.pointer}) needs an Envoy sidecar; gRPC clients cannot read request bodies for routing, so this route is left out for proxyless clients` };
  }
  const condition = { filter: userIdMetadataNamespace, path: [{ key: userId.source.pointer }], value: { string_match: stringMatcher(userId.match) } };
  return { match: { ...match, dynamic_metadata: [...(match.dynamic_metadata ?? []), condition] } };
}
