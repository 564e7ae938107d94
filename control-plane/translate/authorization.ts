/**
 * Authorization by identity: a service's AuthorizationPolicy rules as Envoy's
 * RBAC HTTP filter, on a sidecar's inbound chains and on a proxyless gRPC
 * server's listener (gRFC A41 gives gRPC the same filter).
 *
 * DENY is a filter of its own placed before ALLOW, so a request is refused
 * when any DENY rule matches, then must match an ALLOW rule if there is one
 * (Envoy's RBAC has one action per filter). Dry-run rules become
 * `shadow_rules`: evaluated, counted and logged in dynamic metadata, never
 * enforced. The caller's identity is its certificate's URI SAN, so `from`
 * only matches over mutual TLS.
 */
import { typedAny, type EnvoyJsonTypes } from '../envoy/envoy-types.js';
import { spiffeUri, type AuthorizationRule, type ServiceAuthorization } from '../model/security.js';

type HttpFilterJson = EnvoyJsonTypes['envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter'];
type NetworkFilterJson = EnvoyJsonTypes['envoy.config.listener.v3.Filter'];
type RbacJson = EnvoyJsonTypes['envoy.config.rbac.v3.RBAC'];
type PolicyJson = EnvoyJsonTypes['envoy.config.rbac.v3.Policy'];
type PermissionJson = EnvoyJsonTypes['envoy.config.rbac.v3.Permission'];
type PrincipalJson = EnvoyJsonTypes['envoy.config.rbac.v3.Principal'];

function principals(rule: AuthorizationRule, trustDomain: string): PrincipalJson[] {
  if (!rule.from) return [{ any: true }];
  const ids: PrincipalJson[] = [
    ...rule.from.namespaces.map((namespace): PrincipalJson => ({ authenticated: { principal_name: { prefix: `spiffe://${trustDomain}/ns/${namespace}/sa/` } } })),
    ...rule.from.serviceAccounts.map((account): PrincipalJson => {
      const [namespace, serviceAccount] = account.split('/') as [string, string];
      return { authenticated: { principal_name: { exact: spiffeUri(trustDomain, namespace, serviceAccount) } } };
    }),
  ];
  return ids.length > 0 ? ids : [{ any: true }];
}

function permissions(rule: AuthorizationRule): PermissionJson[] {
  const parts: PermissionJson[] = [];
  if (rule.paths.length > 0) {
    const paths = rule.paths.map((path): PermissionJson => ({ url_path: { path: path.kind === 'exact' ? { exact: path.value } : { prefix: path.value } } }));
    parts.push(paths.length === 1 ? paths[0]! : { or_rules: { rules: paths } });
  }
  if (rule.methods.length > 0) {
    const methods = rule.methods.map((method): PermissionJson => ({ header: { name: ':method', string_match: { exact: method } } }));
    parts.push(methods.length === 1 ? methods[0]! : { or_rules: { rules: methods } });
  }
  if (parts.length === 0) return [{ any: true }];
  return parts.length === 1 ? parts : [{ and_rules: { rules: parts } }];
}

function policies(rules: readonly AuthorizationRule[], trustDomain: string): Record<string, PolicyJson> {
  return Object.fromEntries(rules.map((rule) => [rule.name, { permissions: permissions(rule), principals: principals(rule, trustDomain) }]));
}

/** One action's rules: `enforced` undefined when no policy of that action applies (an empty list still denies, for ALLOW). */
interface ActionRules {
  readonly enforced?: readonly AuthorizationRule[];
  readonly shadow: readonly AuthorizationRule[];
}

function rbacRules(action: 'ALLOW' | 'DENY', { enforced, shadow }: ActionRules, trustDomain: string): { rules: RbacJson; shadow_rules?: RbacJson; shadow_rules_stat_prefix?: string } | undefined {
  if (enforced === undefined && shadow.length === 0) return undefined;
  const rules = (list: readonly AuthorizationRule[]): RbacJson => ({ action, policies: policies(list, trustDomain) });
  return {
    // Dry-run only: DENY with no policies matches nothing, so nothing is enforced. (Leaving `rules`
    // out says the same to Envoy, but gRPC refuses an RBAC filter without rules, gRFC A41.)
    rules: enforced !== undefined ? rules(enforced) : { action: 'DENY', policies: {} },
    ...(shadow.length > 0 ? { shadow_rules: rules(shadow), shadow_rules_stat_prefix: `sluice_dry_run_${action.toLowerCase()}_` } : {}),
  };
}

const present = (rules: readonly AuthorizationRule[]) => (rules.length > 0 ? rules : undefined);

/** The RBAC filters for a service's inbound HTTP traffic, DENY first; none without policies (default allow). */
export function authorizationFilters(authorization: ServiceAuthorization | undefined, trustDomain: string): HttpFilterJson[] {
  if (!authorization) return [];
  const filters: HttpFilterJson[] = [];
  for (const [action, rules] of [['DENY', { enforced: present(authorization.deny), shadow: authorization.shadowDeny }], ['ALLOW', { enforced: present(authorization.allow), shadow: authorization.shadowAllow }]] as const) {
    const body = rbacRules(action, rules, trustDomain);
    if (body) filters.push({ name: `envoy.filters.http.rbac.${action.toLowerCase()}`, typed_config: typedAny('envoy.extensions.filters.http.rbac.v3.RBAC', body) });
  }
  return filters;
}

const httpOnly = (rule: AuthorizationRule) => rule.paths.length > 0 || rule.methods.length > 0;
const withoutHttpFields = (rule: AuthorizationRule): AuthorizationRule => ({ ...rule, paths: [], methods: [] });

/**
 * The same policies for a TCP port (Envoy's network RBAC filter), where paths
 * and methods do not exist. Like Istio, this fails closed: an ALLOW rule
 * naming a path or method never matches TCP (so a workload with only such
 * rules refuses all TCP), and a DENY rule's path and method are dropped (it
 * denies by caller alone).
 */
export function authorizationNetworkFilters(authorization: ServiceAuthorization | undefined, trustDomain: string, statPrefix: string): NetworkFilterJson[] {
  if (!authorization) return [];
  const filters: NetworkFilterJson[] = [];
  const deny = { enforced: present(authorization.deny.map(withoutHttpFields)), shadow: authorization.shadowDeny.map(withoutHttpFields) };
  const allow = { enforced: authorization.allow.length > 0 ? authorization.allow.filter((rule) => !httpOnly(rule)) : undefined, shadow: authorization.shadowAllow.filter((rule) => !httpOnly(rule)) };
  for (const [action, rules] of [['DENY', deny], ['ALLOW', allow]] as const) {
    const body = rbacRules(action, rules, trustDomain);
    if (body) filters.push({ name: `envoy.filters.network.rbac.${action.toLowerCase()}`, typed_config: typedAny('envoy.extensions.filters.network.rbac.v3.RBAC', { ...body, stat_prefix: `${statPrefix}_${action.toLowerCase()}` }) });
  }
  return filters;
}
