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

function rbacFilter(action: 'ALLOW' | 'DENY', enforced: readonly AuthorizationRule[], shadow: readonly AuthorizationRule[], trustDomain: string): HttpFilterJson | undefined {
  if (enforced.length === 0 && shadow.length === 0) return undefined;
  const body: EnvoyJsonTypes['envoy.extensions.filters.http.rbac.v3.RBAC'] = {};
  const rules = (list: readonly AuthorizationRule[]): RbacJson => ({ action, policies: policies(list, trustDomain) });
  // Dry-run only: DENY with no policies matches nothing, so nothing is enforced. (Leaving `rules`
  // out says the same to Envoy, but gRPC refuses an RBAC filter without rules, gRFC A41.)
  body.rules = enforced.length > 0 ? rules(enforced) : { action: 'DENY', policies: {} };
  if (shadow.length > 0) {
    body.shadow_rules = rules(shadow);
    body.shadow_rules_stat_prefix = `sluice_dry_run_${action.toLowerCase()}_`;
  }
  return { name: `envoy.filters.http.rbac.${action.toLowerCase()}`, typed_config: typedAny('envoy.extensions.filters.http.rbac.v3.RBAC', body) };
}

/** The RBAC filters for a service's inbound HTTP traffic, DENY first; none without policies (default allow). */
export function authorizationFilters(authorization: ServiceAuthorization | undefined, trustDomain: string): HttpFilterJson[] {
  if (!authorization) return [];
  return [rbacFilter('DENY', authorization.deny, authorization.shadowDeny, trustDomain), rbacFilter('ALLOW', authorization.allow, authorization.shadowAllow, trustDomain)].filter((filter): filter is HttpFilterJson => filter !== undefined);
}
