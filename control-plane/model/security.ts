/**
 * The IR of a service's workload security (issue #18): which mutual-TLS mode
 * its workloads accept and who may call them. Resolved from PeerAuthentication
 * and AuthorizationPolicy objects so the translator never reads a manifest.
 *
 * A policy applies to a service when it is in the service's namespace and its
 * selector (pod labels) is contained in the service's selector: the service's
 * pods then carry those labels. For the mode, the most specific policy wins
 * (a selector over the namespace default); authorization policies add up.
 */
import type { ObjectReference } from '../core/errors.js';
import type { AuthorizationPolicySpec, PeerAuthenticationSpec } from '../api/policy-api.generated.js';

/** The trust domain of the mesh's SPIFFE IDs unless `--trust-domain` says otherwise (Kubernetes' default cluster domain). */
export const defaultTrustDomain = 'cluster.local';

export type MtlsMode = 'PERMISSIVE' | 'STRICT' | 'DISABLE';

/** Who is calling, from the peer certificate's SPIFFE ID; values within a list are alternatives. */
export interface AuthorizationSource {
  readonly namespaces: readonly string[];
  /** `<namespace>/<service-account>`. */
  readonly serviceAccounts: readonly string[];
}

/** One rule: every part given must match; an absent part matches anything. */
export interface AuthorizationRule {
  /** `<policy namespace>/<policy name>[<index>]`: names the Envoy policy, so logs say which rule decided. */
  readonly name: string;
  readonly from?: AuthorizationSource;
  /** Exact paths, or prefixes (written with a trailing `*`). */
  readonly paths: ReadonlyArray<{ readonly kind: 'exact' | 'prefix'; readonly value: string }>;
  readonly methods: readonly string[];
}

export interface ServiceAuthorization {
  /** Enforced: a DENY match is refused; with any ALLOW rule, a request must match one. */
  readonly deny: readonly AuthorizationRule[];
  readonly allow: readonly AuthorizationRule[];
  /** Dry-run policies: evaluated and logged only (Envoy shadow rules). */
  readonly shadowDeny: readonly AuthorizationRule[];
  readonly shadowAllow: readonly AuthorizationRule[];
}

export interface ServiceSecurity {
  /**
   * Undefined when no PeerAuthentication covers the service: plaintext, as
   * before mTLS existed. `sidecars`: every endpoint is a pod with our sidecar
   * (the injector's status annotation), so in PERMISSIVE it takes mTLS too.
   */
  readonly mtls?: { readonly mode: MtlsMode; readonly policy: ObjectReference; readonly sidecars: boolean };
  readonly authorization?: ServiceAuthorization;
}

export interface SecurityPolicy<Spec> {
  readonly reference: ObjectReference;
  readonly spec: Spec;
}

function selectorCovers(policySelector: Readonly<Record<string, string>> | undefined, serviceSelector: Readonly<Record<string, string>>): boolean {
  if (!policySelector || Object.keys(policySelector).length === 0) return true;
  // A service without a selector has no pods of its own to protect.
  if (Object.keys(serviceSelector).length === 0) return false;
  return Object.entries(policySelector).every(([key, value]) => serviceSelector[key] === value);
}

const specificity = (selector: Readonly<Record<string, string>> | undefined) => Object.keys(selector ?? {}).length;

/** Whether a policy (by its selector) applies to a service of its namespace. */
export function policyApplies(policyNamespace: string, selector: Readonly<Record<string, string>> | undefined, service: { namespace: string; selector: Readonly<Record<string, string>> }): boolean {
  return policyNamespace === service.namespace && selectorCovers(selector, service.selector);
}

function ruleOf(policy: SecurityPolicy<AuthorizationPolicySpec>, rule: AuthorizationPolicySpec['rules'][number], index: number): AuthorizationRule {
  const from = rule.from ? { namespaces: [...(rule.from.namespaces ?? [])], serviceAccounts: [...(rule.from.serviceAccounts ?? [])] } : undefined;
  return {
    name: `${policy.reference.namespace}/${policy.reference.name}[${index}]`,
    ...(from ? { from } : {}),
    paths: (rule.paths ?? []).map((path) => (path.endsWith('*') ? { kind: 'prefix' as const, value: path.slice(0, -1) } : { kind: 'exact' as const, value: path })),
    methods: [...(rule.methods ?? [])],
  };
}

/**
 * The security IR of one service. `peer` and `authorization` are the
 * namespace's policies, in a deterministic order (the caller sorts objects).
 */
export function securityOf(
  service: { namespace: string; selector: Readonly<Record<string, string>>; sidecars: boolean },
  peer: readonly SecurityPolicy<PeerAuthenticationSpec>[],
  authorization: readonly SecurityPolicy<AuthorizationPolicySpec>[],
): ServiceSecurity | undefined {
  let mtls: ServiceSecurity['mtls'];
  let mtlsSpecificity = -1;
  for (const policy of peer) {
    if (!policyApplies(policy.reference.namespace ?? '', policy.spec.selector, service)) continue;
    const level = specificity(policy.spec.selector);
    if (level > mtlsSpecificity) {
      mtls = { mode: policy.spec.mode, policy: policy.reference, sidecars: service.sidecars };
      mtlsSpecificity = level;
    }
  }
  const lists = { deny: [] as AuthorizationRule[], allow: [] as AuthorizationRule[], shadowDeny: [] as AuthorizationRule[], shadowAllow: [] as AuthorizationRule[] };
  let any = false;
  for (const policy of authorization) {
    if (!policyApplies(policy.reference.namespace ?? '', policy.spec.selector, service)) continue;
    any = true;
    const list = policy.spec.dryRun ? (policy.spec.action === 'DENY' ? lists.shadowDeny : lists.shadowAllow) : policy.spec.action === 'DENY' ? lists.deny : lists.allow;
    policy.spec.rules.forEach((rule, index) => list.push(ruleOf(policy, rule, index)));
  }
  if (!mtls && !any) return undefined;
  return { ...(mtls ? { mtls } : {}), ...(any ? { authorization: lists } : {}) };
}

/** Written on a pod by the injector (webhook/annotations.ts): the pod runs a Sluice sidecar. */
export const sidecarStatusAnnotation = 'sidecar.sluice.dev/status';

/**
 * Callers use mutual TLS towards a destination that accepts it: always in
 * STRICT; in PERMISSIVE only when its pods have sidecars, because a proxyless
 * gRPC server cannot accept both and serves plaintext then (and a pod Sluice
 * knows nothing about may have no proxy at all). Plaintext is never refused
 * in PERMISSIVE, so that choice is always safe.
 */
export function acceptsMutualTls(security: ServiceSecurity | undefined): boolean {
  const mtls = security?.mtls;
  return mtls !== undefined && (mtls.mode === 'STRICT' || (mtls.mode === 'PERMISSIVE' && mtls.sidecars));
}

/** `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`: the identity the CA certifies. */
export function spiffeUri(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * The mTLS mode a proxy's workload accepts: for a sidecar, the strictest of
 * the services selecting its pod; undefined when no PeerAuthentication covers
 * them (plaintext) or for proxyless clients.
 */
export function workloadMtlsMode(
  snapshot: { services: ReadonlyMap<string, { namespace: string; selector: Readonly<Record<string, string>>; security?: ServiceSecurity }> },
  proxy: { namespace: string; labels: Readonly<Record<string, string>>; mode: string } | undefined,
): MtlsMode | undefined {
  if (!proxy || proxy.mode !== 'sidecar') return undefined;
  const order: MtlsMode[] = ['DISABLE', 'PERMISSIVE', 'STRICT'];
  let mode: MtlsMode | undefined;
  for (const service of snapshot.services.values()) {
    if (service.namespace !== proxy.namespace || Object.keys(service.selector).length === 0) continue;
    if (!Object.entries(service.selector).every(([key, value]) => proxy.labels[key] === value)) continue;
    const own = service.security?.mtls?.mode;
    if (own && (!mode || order.indexOf(own) > order.indexOf(mode))) mode = own;
  }
  return mode;
}
