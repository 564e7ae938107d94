/**
 * Routing on a user ID inside the JSON request body. Envoy cannot route on a
 * body by itself, so the `envoy.filters.http.json_to_metadata` filter (Envoy ≥
 * 1.28) lifts the field into dynamic metadata before the router runs, and
 * clears the route cache so the route match sees it.
 *
 * Buffering a body costs memory and latency, so the filter is on a port's
 * listener only when some route there reads the body, and even then it is
 * disabled by default and enabled per virtual host (Envoy's route-based
 * filter chain, chosen from the request's first route match): only services
 * whose policy reads the body are buffered.
 *
 * What happens to a request (Envoy ≥ 1.30):
 * - Content-Type `application/json` or `application/<anything>+json`, any case,
 *   with parameters (`application/json;charset=UTF-8`): the body is read; a
 *   user ID at the pointer becomes metadata and the body-ID routes can match.
 * - A JSON body without the field, a body that is not JSON, another or no
 *   Content-Type: no metadata, so the body-ID routes do not match and the
 *   request takes the routes after them (for a release: the stable split).
 * - A body larger than the listener's buffer limit (1 MiB by default,
 *   Envoy's per_connection_buffer_limit_bytes): Envoy answers 413.
 */
import { jsonPointerSegments } from '../lib/json-pointer.js';
import { typedAny, type AnyJson, type EnvoyJsonTypes } from '../envoy/envoy-types.js';

/** Dynamic-metadata namespace holding user IDs; the key is the JSON Pointer. */
export const userIdMetadataNamespace = 'sluice.user_id';

/** Content types read as JSON: the exact forms clients send most, plus any case and parameters by regex. */
export const jsonContentTypes = ['application/json', 'application/json;charset=UTF-8', 'application/json; charset=UTF-8', 'application/json;charset=utf-8', 'application/json; charset=utf-8'];
export const jsonContentTypeRegex = '(?i)application/([a-z0-9.+-]*\\+)?json\\s*(;.*)?';

export const jsonToMetadataFilterName = 'envoy.filters.http.json_to_metadata';

/** The per-virtual-host switch that turns the (disabled by default) filter on for one service. */
export function jsonBodyEnabled(): NonNullable<EnvoyJsonTypes['envoy.config.route.v3.VirtualHost']['typed_per_filter_config']> {
  // An empty `config` (no type) means "enabled, with the listener's configuration".
  return { [jsonToMetadataFilterName]: typedAny('envoy.config.route.v3.FilterConfig', { config: {} as AnyJson }) };
}

export function jsonToMetadataFilter(pointers: readonly string[]): EnvoyJsonTypes['envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter'] {
  const rules = [...new Set(pointers)].sort().map((pointer) => ({
    selectors: jsonPointerSegments(pointer).map((key) => ({ key })),
    on_present: { metadata_namespace: userIdMetadataNamespace, key: pointer, type: 'STRING' as const },
  }));
  return {
    name: jsonToMetadataFilterName,
    disabled: true,
    typed_config: typedAny('envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata', {
      request_rules: { rules, allow_content_types: jsonContentTypes, allow_content_types_regex: { regex: jsonContentTypeRegex } },
    }),
  };
}
