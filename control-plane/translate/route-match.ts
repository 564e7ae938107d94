/**
 * RouteMatch from a policy route's `match`: path, headers, and the user ID —
 * from a header (any proxy) or from the JSON body (Envoy sidecars only, via
 * the json_to_metadata filter and a dynamic-metadata match).
 */
import type { HeaderMatchSpec, RouteMatchSpec, UserIdMatchSpec } from '../api/types.js';
import type { ProxyMode } from './proxy-scope.js';
import { userIdMetadataNamespace } from './json-body.js';

/** Escape a literal for an RE2 pattern. */
export function re2Literal(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** Envoy StringMatcher for "one of these values", "starts with", or "matches". */
function idMatcher(spec: Pick<UserIdMatchSpec, 'values' | 'prefix' | 'regex'>): Record<string, unknown> {
  if (spec.prefix !== undefined) return { prefix: spec.prefix };
  if (spec.regex !== undefined) return { safe_regex: { regex: spec.regex } };
  const values = [...(spec.values ?? [])];
  // Many IDs become one alternation rather than one route per ID: route tables stay small.
  return values.length === 1 ? { exact: values[0] } : { safe_regex: { regex: `(?:${values.map(re2Literal).join('|')})` } };
}

/**
 * A HeaderMatcher from a StringMatcher. Sidecars get `string_match`; proxyless
 * clients get the older one-of fields (`exact_match`, `prefix_match`,
 * `safe_regex_match`), because gRPC C-core before 1.53 (Debian 12 ships 1.51)
 * NACKs a route table holding `string_match` ("Invalid route header matcher
 * specified"), while every gRPC release and Envoy accept the older fields.
 */
function headerStringMatcher(name: string, matcher: Record<string, unknown>, mode: ProxyMode): Record<string, unknown> {
  if (mode !== 'proxyless') return { name, string_match: matcher };
  if ('exact' in matcher) return { name, exact_match: matcher.exact };
  if ('prefix' in matcher) return { name, prefix_match: matcher.prefix };
  return { name, safe_regex_match: matcher.safe_regex };
}

function headerMatcher(header: HeaderMatchSpec, mode: ProxyMode): Record<string, unknown> {
  const name = header.name.toLowerCase();
  if (header.present !== undefined) return { name, present_match: header.present };
  if (header.exact !== undefined) return headerStringMatcher(name, { exact: header.exact }, mode);
  if (header.prefix !== undefined) return headerStringMatcher(name, { prefix: header.prefix }, mode);
  return headerStringMatcher(name, { safe_regex: { regex: header.regex } }, mode);
}

export type MatchResult = { readonly match: Record<string, unknown> } | { readonly unsupported: string };

export function routeMatch(spec: RouteMatchSpec | undefined, mode: ProxyMode): MatchResult {
  const match: Record<string, unknown> = {};
  const path = spec?.path;
  if (path?.exact !== undefined) match.path = path.exact;
  else if (path?.regex !== undefined) match.safe_regex = { regex: path.regex };
  else match.prefix = path?.prefix ?? '/';

  const headers = (spec?.headers ?? []).map((header) => headerMatcher(header, mode));
  const userId = spec?.userId;
  if (userId?.header !== undefined) {
    headers.push(headerStringMatcher(userId.header.toLowerCase(), idMatcher(userId), mode));
  } else if (userId?.jsonBody !== undefined) {
    if (mode === 'proxyless') {
      return { unsupported: `user ID from the JSON body (${userId.jsonBody}) needs an Envoy sidecar; gRPC clients cannot read request bodies for routing, so this route is left out for proxyless clients` };
    }
    match.dynamic_metadata = [{ filter: userIdMetadataNamespace, path: [{ key: userId.jsonBody }], value: { string_match: idMatcher(userId) } }];
  }
  if (headers.length > 0) match.headers = headers;
  return { match };
}

/** A route with no conditions catches everything: routes after it can never match. */
export function isCatchAll(spec: RouteMatchSpec | undefined): boolean {
  if (!spec) return true;
  const path = spec.path;
  const pathIsAll = !path || path.prefix === '/';
  return pathIsAll && !spec.userId && !(spec.headers?.length);
}
