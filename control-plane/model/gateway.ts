/**
 * The typed IR of the edge: Gateways (from the Kubernetes Gateway API) with
 * their listeners and, per listener and hostname, the HTTPRoute rules attached
 * to them, already in the order the Gateway API's precedence rules give. The
 * translator reads only this (and the mesh's services, for "one policy for
 * every hop"); `gateway-from-manifests.ts` builds it and the status
 * conditions the Gateway API asks a controller to write back.
 */
import type { ServiceHost } from './snapshot.js';
import type { HeaderMatch, Milliseconds, PathMatch } from './traffic.js';

export type GatewayListenerProtocol = 'HTTP' | 'HTTPS';

export interface QueryParamMatch {
  readonly name: string;
  readonly match: { readonly kind: 'exact'; readonly value: string } | { readonly kind: 'regex'; readonly pattern: string };
}

/** One entry of an HTTPRoute rule's `matches` (every condition must hold). */
export interface GatewayRouteMatch {
  readonly path: PathMatch;
  readonly headers: readonly HeaderMatch[];
  readonly queryParams: readonly QueryParamMatch[];
  readonly method?: string;
}

/** A resolved `backendRef`: a mesh Service port, by the Service's host. */
export interface GatewayBackend {
  readonly host: ServiceHost;
  readonly port: number;
  readonly weight: number;
}

export interface HeaderModifier {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

export interface GatewayRedirect {
  readonly scheme?: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly path?: { readonly kind: 'full' | 'prefix'; readonly value: string };
  readonly statusCode: number;
}

export interface GatewayRewrite {
  readonly hostname?: string;
  readonly path?: { readonly kind: 'full' | 'prefix'; readonly value: string };
}

/** One match of one rule, with the rule's action: the unit a route table holds. */
export interface GatewayRoute {
  /** `<namespace>/<route>/rule-<i>/match-<j>`: unique in a gateway, stable across edits of other rules. */
  readonly name: string;
  readonly match: GatewayRouteMatch;
  /** Weighted backends; empty with a redirect, or when no backendRef resolved (then Envoy answers 500). */
  readonly backends: readonly GatewayBackend[];
  /** The weight of backendRefs that did not resolve: that share of requests is answered with 500. */
  readonly unresolvedWeight?: number;
  readonly redirect?: GatewayRedirect;
  readonly rewrite?: GatewayRewrite;
  readonly requestHeaders?: HeaderModifier;
  readonly responseHeaders?: HeaderModifier;
  /** `timeouts.request` and `timeouts.backendRequest`. */
  readonly timeout?: Milliseconds;
  readonly backendTimeout?: Milliseconds;
}

export interface GatewayVirtualHost {
  /** A hostname (`shop.example.com`, `*.example.com`) or `*`. */
  readonly hostname: string;
  /** In Gateway API precedence order: the first match wins. */
  readonly routes: readonly GatewayRoute[];
}

export interface GatewayTlsCertificate {
  /** `<namespace>/<name>` of the Secret, for messages. */
  readonly secret: string;
  /** Base64 of the PEM, as the Secret holds it (Envoy's inline_bytes take base64 in JSON). */
  readonly certificateChain: string;
  readonly privateKey: string;
}

export interface GatewayListener {
  readonly name: string;
  readonly port: number;
  readonly protocol: GatewayListenerProtocol;
  readonly hostname?: string;
  /** HTTPS: the certificates of `tls.certificateRefs`. */
  readonly certificates: readonly GatewayTlsCertificate[];
  readonly virtualHosts: readonly GatewayVirtualHost[];
}

export interface MeshGateway {
  readonly namespace: string;
  readonly name: string;
  readonly className: string;
  /** Only the listeners that can be programmed (supported protocol, references resolved, no conflict). */
  readonly listeners: readonly GatewayListener[];
}

/** A Gateway API status condition (metav1.Condition without the timestamp, which the writer adds). */
export interface GatewayCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

export interface ListenerStatus {
  readonly name: string;
  readonly attachedRoutes: number;
  readonly supportedKinds: readonly { readonly group: string; readonly kind: string }[];
  readonly conditions: readonly GatewayCondition[];
}

export interface ParentRefStatus {
  readonly parentRef: { readonly group: string; readonly kind: string; readonly namespace: string; readonly name: string; readonly sectionName?: string; readonly port?: number };
  readonly controllerName: string;
  readonly conditions: readonly GatewayCondition[];
}

/** What to write to one object's `.status`, and for which generation. */
export interface GatewayObjectStatus<Status> {
  readonly kind: 'GatewayClass' | 'Gateway' | 'HTTPRoute' | 'GRPCRoute';
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly status: Status;
}

export interface GatewayApiStatus {
  readonly gatewayClasses: readonly GatewayObjectStatus<{ readonly conditions: readonly GatewayCondition[] }>[];
  readonly gateways: readonly GatewayObjectStatus<{ readonly conditions: readonly GatewayCondition[]; readonly listeners: readonly ListenerStatus[] }>[];
  /** Only the parents this controller owns; other controllers' entries are left as they are. */
  readonly httpRoutes: readonly GatewayObjectStatus<{ readonly parents: readonly ParentRefStatus[] }>[];
  readonly grpcRoutes: readonly GatewayObjectStatus<{ readonly parents: readonly ParentRefStatus[] }>[];
}

/** Everything about the edge in one snapshot. */
export interface GatewayModel {
  /** By `<namespace>/<name>`, in that order. */
  readonly gateways: ReadonlyMap<string, MeshGateway>;
  readonly status: GatewayApiStatus;
}

export const gatewayKey = (namespace: string, name: string): string => `${namespace}/${name}`;
