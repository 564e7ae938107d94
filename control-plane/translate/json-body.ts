/**
 * Routing on a user ID inside the JSON request body. Envoy cannot route on a
 * body by itself, so the `envoy.filters.http.json_to_metadata` filter (Envoy ≥
 * 1.28) lifts the field into dynamic metadata before the router runs, and
 * clears the route cache so the route match sees it. The filter buffers JSON
 * bodies, so it is only added to ports where some route needs it.
 */
import { jsonPointerSegments } from '../lib/json-pointer.js';
import { typedAny, type EnvoyJsonTypes } from '../envoy/envoy-types.js';

/** Dynamic-metadata namespace holding user IDs; the key is the JSON Pointer. */
export const userIdMetadataNamespace = 'sluice.user_id';

export function jsonToMetadataFilter(pointers: readonly string[]): EnvoyJsonTypes['envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter'] {
  const rules = [...new Set(pointers)].sort().map((pointer) => ({
    selectors: jsonPointerSegments(pointer).map((key) => ({ key })),
    on_present: { metadata_namespace: userIdMetadataNamespace, key: pointer, type: 'STRING' as const },
  }));
  return {
    name: 'envoy.filters.http.json_to_metadata',
    typed_config: typedAny('envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata', {
      request_rules: { rules, allow_content_types: ['application/json'] },
    }),
  };
}
