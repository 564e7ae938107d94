/**
 * What translation produces: Envoy resources as proto3 JSON (snake_case field
 * names, `Any` as `{"@type": …}`, durations as "3s"), ready for the xDS cache
 * to encode once. Plain data only; versions are assigned by the cache.
 */
import type { ResourceKind } from '../envoy/resource-types.js';

export { anyOf, envoyTypeOfKind, resourceKinds, type ResourceKind } from '../envoy/resource-types.js';

export type EnvoyJson = { readonly [key: string]: unknown };

export interface EnvoyResource {
  readonly name: string;
  readonly body: EnvoyJson;
}

/** A problem found while translating: a policy feature this proxy cannot have, or an invalid resource (a bug). */
export interface TranslationIssue {
  readonly severity: 'warning' | 'error';
  readonly resource?: string;
  /** The kind of `resource`, when the issue is about one resource. */
  readonly kind?: ResourceKind;
  readonly object?: string;
  readonly message: string;
}

/** Every resource one scope receives, in a deterministic order. */
export interface ScopeResources {
  readonly listeners: readonly EnvoyResource[];
  readonly routes: readonly EnvoyResource[];
  readonly clusters: readonly EnvoyResource[];
  readonly endpoints: readonly EnvoyResource[];
  readonly issues: readonly TranslationIssue[];
}

export const adsConfigSource = { ads: {}, resource_api_version: 'V3' } as const;
