/**
 * The one table of the xDS resource types Sluice serves: each kind's Envoy
 * message type and type URL. Translation, the cache and the streams all read
 * it; nothing else spells a type URL.
 */
import {
  CLUSTER_LOAD_ASSIGNMENT_TYPE,
  CLUSTER_TYPE,
  LISTENER_TYPE,
  ROUTE_CONFIGURATION_TYPE,
  typeUrlOf,
} from './proto-registry.js';

export type ResourceKind = 'listeners' | 'routes' | 'clusters' | 'endpoints';
export const resourceKinds: readonly ResourceKind[] = ['listeners', 'routes', 'clusters', 'endpoints'];

/** The Envoy message type of each kind. */
export const envoyTypeOfKind: Readonly<Record<ResourceKind, string>> = {
  listeners: LISTENER_TYPE,
  routes: ROUTE_CONFIGURATION_TYPE,
  clusters: CLUSTER_TYPE,
  endpoints: CLUSTER_LOAD_ASSIGNMENT_TYPE,
};

export const typeUrlOfKind: Readonly<Record<ResourceKind, string>> = Object.fromEntries(
  resourceKinds.map((kind) => [kind, typeUrlOf(envoyTypeOfKind[kind])]),
) as Record<ResourceKind, string>;

export const kindOfTypeUrl: ReadonlyMap<string, ResourceKind> = new Map(resourceKinds.map((kind) => [typeUrlOfKind[kind], kind]));

/** An `Any` in proto3 JSON: the message's fields plus `@type`. */
export const anyOf = (typeName: string, body: Record<string, unknown>): Record<string, unknown> => ({ '@type': typeUrlOf(typeName), ...body });
