/**
 * What translation produces: Envoy resources as proto3 JSON (snake_case field
 * names, `Any` as `{"@type": …}`, durations as "3s"), ready for the xDS cache
 * to encode once. Plain data only; versions are assigned by the cache.
 */
import type { ResourceKind } from '../envoy/resource-types.js';

export { anyOf, envoyTypeOfKind, resourceKinds, type ResourceKind } from '../envoy/resource-types.js';

export type EnvoyJson = { readonly [key: string]: unknown };

/** One resource; `Body` is its typed proto3 JSON (envoy/envoy-types.ts) where the builder knows the type. */
export interface EnvoyResource<Body extends EnvoyJson = EnvoyJson> {
  readonly name: string;
  readonly body: Body;
  /** Set when the body is a shell plus many shared parts (a route table's virtual hosts). */
  readonly composite?: CompositeBody;
}

/**
 * A resource assembled from parts that are shared objects: `body` is
 * `{...shell, [fieldName]: parts}`. The cache encodes, and the translator
 * checks, each part once (a virtual host reused by every namespace's route
 * table and across snapshots) and the shell once, instead of the whole table
 * every time any host in it changes. Protobuf allows a repeated field's
 * elements anywhere in a message, so shell bytes + framed parts is the message.
 */
export interface CompositeBody {
  readonly shell: EnvoyJson;
  /** The repeated message field the parts fill: its JSON name and proto field number. */
  readonly fieldName: string;
  readonly fieldNumber: number;
  readonly partType: string;
  readonly parts: readonly EnvoyJson[];
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
  /**
   * The same lists in two layers, when the scope has them: `shared` (what every
   * proxy of its namespace and mode gets, the same arrays for all of them) and
   * `own` (its inbound side). The cache keeps one encoded map per layer, so a
   * scope costs its own layer alone.
   */
  readonly layers?: { readonly shared: ResourceLists; readonly own: ResourceLists };
}

export type ResourceLists = Readonly<Record<ResourceKind, readonly EnvoyResource[]>>;

export const adsConfigSource = { ads: {}, resource_api_version: 'V3' } as const;
