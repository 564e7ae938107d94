/**
 * Gateway API manifests → the edge's IR (model/gateway.ts) and the status
 * conditions the Gateway API specifies.
 *
 * Two kinds of findings, as the Gateway API intends:
 * - input a proxy could not use (an RE2-invalid regex, duplicate listener
 *   names, a bad duration) is a configuration error with file:line:column,
 *   and the whole load is refused like any other bad manifest;
 * - references that do not resolve *yet* (a Service or Secret not created,
 *   a listener that does not allow the route) are not errors: they become
 *   status conditions (Accepted, ResolvedRefs, Programmed) and warnings, and
 *   the rest of the gateway keeps working.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { ConfigErrorCode } from '../core/errors.js';
import type { FieldPath, SourceObject } from '../core/source-object.js';
import { gatewayApiGroup, gatewayControllerName } from '../api/gateway-api-kinds.js';
import { parseDuration } from '../lib/duration.js';
import { FrozenMap } from '../lib/frozen-map.js';
import { re2SyntaxError } from '../lib/regex.js';
import {
  gatewayKey,
  type GatewayApiStatus,
  type GatewayBackend,
  type GatewayCondition,
  type GatewayListener,
  type GatewayModel,
  type GatewayRoute,
  type GatewayRouteMatch,
  type GatewayTlsCertificate,
  type HeaderModifier,
  type ListenerStatus,
  type MeshGateway,
  type ParentRefStatus,
} from './gateway.js';
import { labelsMatch, serviceHost, type NamespaceInfo } from './snapshot.js';
import type { HeaderMatch, PathMatch } from './traffic.js';

/* The manifest shapes read here (the schema has checked them). */
interface ParentRef { group?: string; kind?: string; namespace?: string; name: string; sectionName?: string; port?: number }
interface ListenerSpec {
  name: string;
  hostname?: string;
  port: number;
  protocol: string;
  tls?: { mode?: string; certificateRefs?: Array<{ group?: string; kind?: string; name: string; namespace?: string }> };
  allowedRoutes?: { namespaces?: { from?: string; selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } }; kinds?: Array<{ group?: string; kind: string }> };
}
interface HeaderFilterSpec { set?: Array<{ name: string; value: string }>; add?: Array<{ name: string; value: string }>; remove?: string[] }
interface PathModifierSpec { type: string; replaceFullPath?: string; replacePrefixMatch?: string }
interface FilterSpec {
  type: string;
  requestHeaderModifier?: HeaderFilterSpec;
  responseHeaderModifier?: HeaderFilterSpec;
  requestRedirect?: { scheme?: string; hostname?: string; port?: number; path?: PathModifierSpec; statusCode?: number };
  urlRewrite?: { hostname?: string; path?: PathModifierSpec };
}
interface MatchSpec {
  path?: { type?: string; value?: string };
  /** GRPCRoute: the gRPC service and method (the request path is /<service>/<method>). */
  grpcMethod?: { type?: string; service?: string; method?: string };
  headers?: Array<{ type?: string; name: string; value: string }>;
  queryParams?: Array<{ type?: string; name: string; value: string }>;
  method?: string;
}
interface RuleSpec {
  name?: string;
  matches?: MatchSpec[];
  filters?: FilterSpec[];
  backendRefs?: Array<{ group?: string; kind?: string; name: string; namespace?: string; port?: number; weight?: number; filters?: FilterSpec[] }>;
  timeouts?: { request?: string; backendRequest?: string };
}
interface Manifest<Spec> { metadata?: { generation?: number; creationTimestamp?: string }; spec: Spec; data?: Record<string, string>; type?: string }

export interface GatewayBuildInput {
  readonly objects: readonly SourceObject[];
  readonly namespaces: ReadonlyMap<string, NamespaceInfo>;
  /** A Service's port numbers, or undefined when the Service does not exist. */
  readonly servicePorts: (namespace: string, name: string) => readonly number[] | undefined;
  readonly issue: (code: ConfigErrorCode, object: SourceObject, path: FieldPath, message: string) => void;
  readonly warn: (object: SourceObject, path: FieldPath, message: string) => void;
}

const condition = (type: string, ok: boolean, reason: string, message: string): GatewayCondition => ({ type, status: ok ? 'True' : 'False', reason, message });
const specOf = <Spec>(object: SourceObject): Manifest<Spec> => object.manifest as unknown as Manifest<Spec>;
const routeKinds = [{ group: gatewayApiGroup, kind: 'HTTPRoute' }, { group: gatewayApiGroup, kind: 'GRPCRoute' }];

/** Gateway API hostname matching: `*.example.com` matches any name with at least one more label. */
function hostnameMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (pattern.startsWith('*.')) return name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1;
  return false;
}

/** The hostnames a route serves on a listener: the intersection of theirs, or undefined when empty. */
export function effectiveHostnames(listenerHostname: string | undefined, routeHostnames: readonly string[]): string[] | undefined {
  if (routeHostnames.length === 0) return [listenerHostname ?? '*'];
  if (!listenerHostname) return [...routeHostnames];
  const result = new Set<string>();
  for (const name of routeHostnames) {
    if (hostnameMatches(listenerHostname, name)) result.add(name);
    else if (hostnameMatches(name, listenerHostname)) result.add(listenerHostname);
  }
  return result.size > 0 ? [...result].sort() : undefined;
}

/**
 * Gateway API precedence within a hostname: exact path, then (an
 * implementation choice the spec leaves open) regex, then the longest prefix;
 * then a method match, more header matches, more query matches; then the
 * oldest route, then namespace/name, then rule and match order.
 */
function precedence(a: RankedRoute, b: RankedRoute): number {
  const pathRank = (path: PathMatch) => (path.kind === 'exact' ? 0 : path.kind === 'regex' ? 1 : 2);
  const pa = a.route.match.path;
  const pb = b.route.match.path;
  return pathRank(pa) - pathRank(pb)
    || (pa.kind === 'prefix' && pb.kind === 'prefix' ? pb.value.length - pa.value.length : 0)
    || Number(b.route.match.method !== undefined) - Number(a.route.match.method !== undefined)
    || b.route.match.headers.length - a.route.match.headers.length
    || b.route.match.queryParams.length - a.route.match.queryParams.length
    || a.created.localeCompare(b.created)
    || a.routeKey.localeCompare(b.routeKey)
    || a.order - b.order;
}

interface RankedRoute { route: GatewayRoute; created: string; routeKey: string; order: number }

function headerModifier(spec: HeaderFilterSpec): HeaderModifier {
  return {
    set: (spec.set ?? []).map(({ name, value }) => ({ name: name.toLowerCase(), value })),
    add: (spec.add ?? []).map(({ name, value }) => ({ name: name.toLowerCase(), value })),
    remove: (spec.remove ?? []).map((name) => name.toLowerCase()),
  };
}

function pathModifier(spec: PathModifierSpec | undefined): { kind: 'full' | 'prefix'; value: string } | undefined {
  if (!spec) return undefined;
  if (spec.type === 'ReplaceFullPath' && spec.replaceFullPath !== undefined) return { kind: 'full', value: spec.replaceFullPath };
  if (spec.type === 'ReplacePrefixMatch' && spec.replacePrefixMatch !== undefined) return { kind: 'prefix', value: spec.replacePrefixMatch };
  return undefined;
}

/**
 * A GRPCRoute method match as a path match: gRPC calls are POSTs to
 * `/<package.Service>/<Method>`. Exact service and method: that path; service
 * only: every method of it (its path segment); otherwise a regex.
 */
function grpcMethodPath(method: NonNullable<MatchSpec['grpcMethod']>, checkRegex: (pattern: string) => void): PathMatch {
  if ((method.type ?? 'Exact') === 'Exact') {
    if (method.service && method.method) return { kind: 'exact', value: `/${method.service}/${method.method}` };
    if (method.service) return { kind: 'prefix', value: `/${method.service}` };
    if (method.method) return { kind: 'regex', pattern: `/[^/]+/${method.method.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')}` };
    return { kind: 'prefix', value: '/' };
  }
  for (const part of [method.service, method.method]) if (part) checkRegex(part);
  return { kind: 'regex', pattern: `/${method.service ?? '[^/]+'}/${method.method ?? '[^/]+'}` };
}

/**
 * Envoy refuses a listener whose certificate or key does not parse (a NACK
 * for every gateway): check both, and that they belong together, here.
 */
function certificateProblem(secret: string, certificateBase64: string, keyBase64: string): { reason: string; message: string } | undefined {
  try {
    const certificate = new X509Certificate(Buffer.from(certificateBase64, 'base64'));
    const key = createPrivateKey(Buffer.from(keyBase64, 'base64'));
    if (!certificate.checkPrivateKey(key)) return { reason: 'InvalidCertificateRef', message: `Secret ${secret}: tls.key is not the key of the certificate in tls.crt` };
    return undefined;
  } catch (error) {
    return { reason: 'InvalidCertificateRef', message: `Secret ${secret}: tls.crt and tls.key must be a PEM certificate and its private key (${(error as Error).message})` };
  }
}

export function gatewaysFromManifests(input: GatewayBuildInput): GatewayModel {
  const { objects, issue, warn } = input;
  const status: { gatewayClasses: GatewayApiStatus['gatewayClasses'][number][]; gateways: GatewayApiStatus['gateways'][number][]; httpRoutes: GatewayApiStatus['httpRoutes'][number][]; grpcRoutes: GatewayApiStatus['grpcRoutes'][number][] } = { gatewayClasses: [], gateways: [], httpRoutes: [], grpcRoutes: [] };
  const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);

  // GatewayClasses this controller owns (cluster-scoped: the name is the key).
  const ourClasses = new Set<string>();
  for (const object of ofKind('GatewayClass')) {
    const spec = specOf<{ controllerName: string }>(object).spec;
    if (spec.controllerName !== gatewayControllerName) continue;
    ourClasses.add(object.name);
    status.gatewayClasses.push({ kind: 'GatewayClass', namespace: '', name: object.name, generation: specOf(object).metadata?.generation, status: { conditions: [condition('Accepted', true, 'Accepted', `handled by ${gatewayControllerName}`)] } });
  }

  const secrets = new Map(ofKind('Secret').map((s) => [`${s.namespace}/${s.name}`, s]));

  // ReferenceGrants: a namespace's consent to references from another (to its Services, its Secrets).
  const grants = ofKind('ReferenceGrant').map((o) => ({ namespace: o.namespace, spec: specOf<{ from: Array<{ group: string; kind: string; namespace: string }>; to: Array<{ group: string; kind: string; name?: string }> }>(o).spec }));
  const granted = (fromKind: string, fromNamespace: string, toKind: 'Service' | 'Secret', toNamespace: string, toName: string): boolean =>
    grants.some((grant) => grant.namespace === toNamespace
      && grant.spec.from.some((f) => f.group === gatewayApiGroup && f.kind === fromKind && f.namespace === fromNamespace)
      && grant.spec.to.some((t) => (t.group ?? '') === '' && t.kind === toKind && (!t.name || t.name === toName)));

  interface ListenerState { spec: ListenerSpec; index: number; conditions: GatewayCondition[]; usable: boolean; certificates: GatewayTlsCertificate[]; attached: number; routes: Set<string>; hosts: Map<string, RankedRoute[]> }
  interface GatewayState { object: SourceObject; listeners: ListenerState[] }
  const gateways = new Map<string, GatewayState>();

  for (const object of ofKind('Gateway')) {
    const spec = specOf<{ gatewayClassName: string; listeners: ListenerSpec[] }>(object).spec;
    if (!ourClasses.has(spec.gatewayClassName)) continue;
    const names = new Map<string, number>();
    const protocolByPort = new Map<number, string>();
    for (const listener of spec.listeners) if (!protocolByPort.has(listener.port)) protocolByPort.set(listener.port, listener.protocol);
    // Envoy cannot tell two listeners apart on one port with one hostname (one filter chain match, one virtual host).
    const hostnameOnPort = new Map<string, string>();
    const listeners: ListenerState[] = spec.listeners.map((listener, index) => {
      const at: FieldPath = ['spec', 'listeners', index];
      const first = names.get(listener.name);
      if (first !== undefined) issue('schema', object, [...at, 'name'], `listener name "${listener.name}" is already used by spec.listeners[${first}]; names must be unique`);
      else names.set(listener.name, index);
      const conditions: GatewayCondition[] = [];
      const certificates: GatewayTlsCertificate[] = [];
      let usable = true;
      let refsOk = true;
      let refsReason = 'ResolvedRefs';
      let refsMessage = 'all references resolved';
      if (listener.protocol !== 'HTTP' && listener.protocol !== 'HTTPS') {
        usable = false;
        conditions.push(condition('Accepted', false, 'UnsupportedProtocol', `protocol ${listener.protocol} is not supported by Sluice (HTTP and HTTPS are)`));
        warn(object, [...at, 'protocol'], `protocol ${listener.protocol} is not supported (HTTP and HTTPS are); this listener is not programmed`);
      } else if (protocolByPort.get(listener.port) !== listener.protocol) {
        usable = false;
        conditions.push(condition('Conflicted', true, 'ProtocolConflict', `port ${listener.port} is already used with protocol ${protocolByPort.get(listener.port)}`));
        warn(object, [...at, 'port'], `port ${listener.port} is already used with protocol ${protocolByPort.get(listener.port)}; this listener is not programmed`);
      } else if (hostnameOnPort.has(`${listener.port}|${listener.hostname ?? ''}`)) {
        usable = false;
        const other = hostnameOnPort.get(`${listener.port}|${listener.hostname ?? ''}`);
        conditions.push(condition('Conflicted', true, 'HostnameConflict', `listener "${other}" already serves ${listener.hostname ?? 'every hostname'} on port ${listener.port}`));
        warn(object, [...at, 'hostname'], `listener "${other}" already serves ${listener.hostname ?? 'every hostname'} on port ${listener.port}; this listener is not programmed`);
      } else {
        hostnameOnPort.set(`${listener.port}|${listener.hostname ?? ''}`, listener.name);
      }
      if (usable && listener.protocol === 'HTTPS') {
        const tls = listener.tls;
        if (tls?.mode === 'Passthrough') {
          usable = false;
          conditions.push(condition('Accepted', false, 'UnsupportedValue', 'tls.mode Passthrough is not supported (Terminate is)'));
        } else if (!tls?.certificateRefs?.length) {
          issue('schema', object, [...at, 'tls'], 'an HTTPS listener needs tls.certificateRefs (a Secret of type kubernetes.io/tls)');
        } else {
          tls.certificateRefs.forEach((ref, refIndex) => {
            const refAt: FieldPath = [...at, 'tls', 'certificateRefs', refIndex];
            const namespace = ref.namespace ?? object.namespace;
            const problem = (ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret'
              ? { reason: 'InvalidCertificateRef', message: `certificateRefs[${refIndex}] must be a core Secret, got ${ref.group ?? ''}/${ref.kind}` }
              : namespace !== object.namespace && !granted('Gateway', object.namespace, 'Secret', namespace, ref.name)
                ? { reason: 'RefNotPermitted', message: `Secret ${namespace}/${ref.name} is in another namespace, and no ReferenceGrant there allows Gateways from ${object.namespace}` }
                : undefined;
            const secret = problem ? undefined : secrets.get(`${namespace}/${ref.name}`);
            const data = secret ? specOf(secret).data ?? {} : {};
            const missing = problem ?? (!secret
              ? { reason: 'InvalidCertificateRef', message: `Secret ${namespace}/${ref.name} does not exist` }
              : !data['tls.crt'] || !data['tls.key'] ? { reason: 'InvalidCertificateRef', message: `Secret ${namespace}/${ref.name} has no tls.crt and tls.key` }
                : certificateProblem(`${namespace}/${ref.name}`, data['tls.crt'], data['tls.key']));
            if (missing) {
              refsOk = false;
              refsReason = missing.reason;
              refsMessage = missing.message;
              warn(object, refAt, `${missing.message}; this listener is not programmed until it resolves`);
              return;
            }
            certificates.push({ secret: `${namespace}/${ref.name}`, certificateChain: data['tls.crt']!, privateKey: data['tls.key']! });
          });
          if (!refsOk) usable = false;
        }
      }
      if (!conditions.some((c) => c.type === 'Accepted')) conditions.push(condition('Accepted', true, 'Accepted', 'listener accepted'));
      conditions.push(condition('ResolvedRefs', refsOk, refsReason, refsMessage));
      conditions.push(condition('Programmed', usable, usable ? 'Programmed' : 'Invalid', usable ? `served on port ${listener.port}` : 'not programmed (see the other conditions)'));
      return { spec: listener, index, conditions, usable, certificates, attached: 0, routes: new Set(), hosts: new Map() };
    });
    gateways.set(gatewayKey(object.namespace, object.name), { object, listeners });
  }

  // HTTPRoutes and GRPCRoutes: attach to listeners, resolve backends, check what a proxy would refuse.
  for (const object of [...ofKind('HTTPRoute'), ...ofKind('GRPCRoute')]) {
    const grpc = object.kind === 'GRPCRoute';
    const manifest = specOf<{ parentRefs?: ParentRef[]; hostnames?: string[]; rules?: RuleSpec[] }>(object);
    const spec = manifest.spec;
    // A GRPCRoute's rules are named apart from an HTTPRoute's of the same name.
    const routeKey = grpc ? `${object.namespace}/${object.name}/grpc` : `${object.namespace}/${object.name}`;
    const created = manifest.metadata?.creationTimestamp ?? '';
    const parents: ParentRefStatus[] = [];

    // The rules once (they do not depend on the parent): matches, backends, filters.
    let unresolved: { reason: string; message: string } | undefined;
    let unsupported: string | undefined;
    const routes: GatewayRoute[] = [];
    (spec.rules ?? [{}]).forEach((rule, ruleIndex) => {
      const ruleAt: FieldPath = ['spec', 'rules', ruleIndex];
      const backends: GatewayBackend[] = [];
      let unresolvedWeight = 0;
      (rule.backendRefs ?? []).forEach((ref, refIndex) => {
        const refAt: FieldPath = [...ruleAt, 'backendRefs', refIndex];
        const namespace = ref.namespace ?? object.namespace;
        let problem: { reason: string; message: string } | undefined;
        if ((ref.group ?? '') !== '' || (ref.kind ?? 'Service') !== 'Service') problem = { reason: 'InvalidKind', message: `backendRefs may name core Services only, got ${ref.group ?? ''}/${ref.kind}` };
        else if (namespace !== object.namespace && !granted(object.kind, object.namespace, 'Service', namespace, ref.name)) problem = { reason: 'RefNotPermitted', message: `Service ${namespace}/${ref.name} is in another namespace, and no ReferenceGrant there allows ${object.kind}s from ${object.namespace}` };
        else if (ref.port === undefined) problem = { reason: 'BackendNotFound', message: `backendRef to Service ${namespace}/${ref.name} needs a port` };
        else {
          const ports = input.servicePorts(namespace, ref.name);
          if (!ports) problem = { reason: 'BackendNotFound', message: `Service ${namespace}/${ref.name} does not exist` };
          else if (!ports.includes(ref.port)) problem = { reason: 'BackendNotFound', message: `Service ${namespace}/${ref.name} has no port ${ref.port} (ports: ${ports.join(', ')})` };
        }
        if ((ref.filters ?? []).length > 0) warn(object, [...refAt, 'filters'], 'filters on a backendRef are not supported and are ignored');
        if (problem) {
          unresolved = problem;
          // Requests that would have gone to it get a 500, as the Gateway API asks.
          warn(object, refAt, `${problem.message}; its share of requests is answered with 500 until it resolves`);
          unresolvedWeight += ref.weight ?? 1;
          return;
        }
        const weight = ref.weight ?? 1;
        if (weight > 0) backends.push({ host: serviceHost(ref.name, namespace), port: ref.port!, weight });
      });

      // The CRD's CEL rule (which the compiled schema does not run): a prefix can be replaced only where a prefix matched.
      const onlyPrefixMatches = (at: FieldPath) => {
        if ((rule.matches ?? []).some((m) => m.path !== undefined && (m.path.type ?? 'PathPrefix') !== 'PathPrefix')) {
          issue('schema', object, at, 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match');
        }
      };
      let requestHeaders: HeaderModifier | undefined;
      let responseHeaders: HeaderModifier | undefined;
      let redirect: GatewayRoute['redirect'];
      let rewrite: GatewayRoute['rewrite'];
      (rule.filters ?? []).forEach((filter, filterIndex) => {
        const filterAt: FieldPath = [...ruleAt, 'filters', filterIndex];
        switch (filter.type) {
          case 'RequestHeaderModifier':
            if (filter.requestHeaderModifier) requestHeaders = headerModifier(filter.requestHeaderModifier);
            break;
          case 'ResponseHeaderModifier':
            if (filter.responseHeaderModifier) responseHeaders = headerModifier(filter.responseHeaderModifier);
            break;
          case 'RequestRedirect': {
            const r = filter.requestRedirect ?? {};
            redirect = { scheme: r.scheme, hostname: r.hostname, port: r.port, path: pathModifier(r.path), statusCode: r.statusCode ?? 302 };
            if (redirect.path?.kind === 'prefix') onlyPrefixMatches([...filterAt, 'requestRedirect', 'path']);
            break;
          }
          case 'URLRewrite':
            rewrite = { hostname: filter.urlRewrite?.hostname, path: pathModifier(filter.urlRewrite?.path) };
            if (rewrite.path?.kind === 'prefix') onlyPrefixMatches([...filterAt, 'urlRewrite', 'path']);
            break;
          default:
            unsupported = `filter type ${filter.type} is not supported (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect and URLRewrite are)`;
            warn(object, [...filterAt, 'type'], `${unsupported}; this rule is left out`);
        }
      });
      if ((rule.filters ?? []).some((f) => !['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'].includes(f.type))) return;
      if (redirect && (rule.backendRefs ?? []).length > 0) issue('schema', object, [...ruleAt, 'backendRefs'], 'a rule with a RequestRedirect filter must not have backendRefs');
      if (redirect && rewrite) issue('schema', object, [...ruleAt, 'filters'], 'RequestRedirect and URLRewrite cannot be used together');

      const duration = (field: 'request' | 'backendRequest'): number | undefined => {
        const text = rule.timeouts?.[field];
        if (text === undefined) return undefined;
        const milliseconds = parseDuration(text);
        if (milliseconds === undefined) issue('bad-duration', object, [...ruleAt, 'timeouts', field], `must be a Gateway API duration such as 500ms, 10s or 1h, got ${JSON.stringify(text)}`);
        return milliseconds;
      };
      const timeout = duration('request');
      const backendTimeout = duration('backendRequest');
      if (timeout !== undefined && backendTimeout !== undefined && timeout !== 0 && backendTimeout > timeout) {
        issue('bad-duration', object, [...ruleAt, 'timeouts', 'backendRequest'], `must not be longer than timeouts.request (${rule.timeouts!.request})`);
      }

      const matches: MatchSpec[] = rule.matches?.length ? rule.matches.map((m) => (grpc ? { headers: m.headers, grpcMethod: (m as { method?: MatchSpec['grpcMethod'] }).method } : m)) : [{}];
      matches.forEach((match, matchIndex) => {
        const matchAt: FieldPath = [...ruleAt, 'matches', matchIndex];
        const regex = (pattern: string, path: FieldPath) => {
          const problem = re2SyntaxError(pattern);
          if (problem) issue('bad-regex', object, path, `is not a valid RE2 regular expression (the dialect Envoy uses): ${problem}`);
        };
        const pathType = match.path?.type ?? 'PathPrefix';
        const pathValue = match.path?.value ?? '/';
        let path: PathMatch;
        if (match.grpcMethod) path = grpcMethodPath(match.grpcMethod, (pattern) => regex(pattern, [...matchAt, 'method']));
        else if (pathType === 'Exact') path = { kind: 'exact', value: pathValue };
        else if (pathType === 'RegularExpression') {
          regex(pathValue, [...matchAt, 'path', 'value']);
          path = { kind: 'regex', pattern: pathValue };
        } else {
          // A trailing slash does not change a Gateway API prefix (it matches whole path segments).
          path = { kind: 'prefix', value: pathValue.length > 1 ? pathValue.replace(/\/+$/, '') || '/' : pathValue };
        }
        const headers: HeaderMatch[] = (match.headers ?? []).map((header, index) => {
          if (header.type === 'RegularExpression') {
            regex(header.value, [...matchAt, 'headers', index, 'value']);
            return { name: header.name.toLowerCase(), kind: 'string', match: { kind: 'regex', pattern: header.value } };
          }
          return { name: header.name.toLowerCase(), kind: 'string', match: { kind: 'exact', value: header.value } };
        });
        const queryParams = (match.queryParams ?? []).map((param, index) => {
          if (param.type === 'RegularExpression') {
            regex(param.value, [...matchAt, 'queryParams', index, 'value']);
            return { name: param.name, match: { kind: 'regex' as const, pattern: param.value } };
          }
          return { name: param.name, match: { kind: 'exact' as const, value: param.value } };
        });
        const routeMatch: GatewayRouteMatch = { path, headers, queryParams, ...(match.method ? { method: match.method } : {}) };
        routes.push({
          name: `${routeKey}/rule-${ruleIndex}/match-${matchIndex}`,
          match: routeMatch,
          backends,
          ...(unresolvedWeight > 0 && backends.length > 0 ? { unresolvedWeight } : {}),
          ...(redirect ? { redirect } : {}),
          ...(rewrite ? { rewrite } : {}),
          ...(requestHeaders ? { requestHeaders } : {}),
          ...(responseHeaders ? { responseHeaders } : {}),
          ...(timeout !== undefined ? { timeout } : {}),
          ...(backendTimeout !== undefined ? { backendTimeout } : {}),
        });
      });
    });

    (spec.parentRefs ?? []).forEach((parentRef, parentIndex) => {
      const group = parentRef.group ?? gatewayApiGroup;
      const kind = parentRef.kind ?? 'Gateway';
      const namespace = parentRef.namespace ?? object.namespace;
      if (group !== gatewayApiGroup || kind !== 'Gateway') return;
      const gateway = gateways.get(gatewayKey(namespace, parentRef.name));
      if (!gateway) return; // not ours (or not there): another controller, or nobody, reports it
      const ref = { group, kind, namespace, name: parentRef.name, ...(parentRef.sectionName ? { sectionName: parentRef.sectionName } : {}), ...(parentRef.port !== undefined ? { port: parentRef.port } : {}) };
      const candidates = gateway.listeners.filter((l) => (!parentRef.sectionName || l.spec.name === parentRef.sectionName) && (parentRef.port === undefined || l.spec.port === parentRef.port));
      let accepted: ListenerState[] = [];
      let reason = 'Accepted';
      let message = 'attached';
      if (candidates.length === 0) {
        reason = 'NoMatchingParent';
        message = `Gateway ${namespace}/${parentRef.name} has no listener${parentRef.sectionName ? ` named "${parentRef.sectionName}"` : ''}${parentRef.port !== undefined ? ` on port ${parentRef.port}` : ''}`;
      } else {
        const allowed = candidates.filter((l) => {
          const from = l.spec.allowedRoutes?.namespaces?.from ?? 'Same';
          if (from === 'Same' && object.namespace !== gateway.object.namespace) return false;
          if (from === 'Selector') {
            const selector = l.spec.allowedRoutes?.namespaces?.selector?.matchLabels ?? {};
            if (!labelsMatch(selector, input.namespaces.get(object.namespace)?.labels ?? {})) return false;
          }
          const kinds = l.spec.allowedRoutes?.kinds;
          return !kinds || kinds.some((k) => (k.group ?? gatewayApiGroup) === gatewayApiGroup && k.kind === object.kind);
        });
        if (allowed.length === 0) {
          reason = 'NotAllowedByListeners';
          message = `no listener of Gateway ${namespace}/${parentRef.name} allows routes from namespace ${object.namespace}`;
        } else {
          accepted = allowed.filter((l) => effectiveHostnames(l.spec.hostname, spec.hostnames ?? []) !== undefined);
          if (accepted.length === 0) {
            reason = 'NoMatchingListenerHostname';
            message = `no hostname of the route matches a listener of Gateway ${namespace}/${parentRef.name}`;
          }
        }
      }
      if (accepted.length === 0) warn(object, ['spec', 'parentRefs', parentIndex], `not attached to Gateway ${namespace}/${parentRef.name}: ${message}`);
      const conditions = [
        condition('Accepted', accepted.length > 0 && !unsupported, accepted.length === 0 ? reason : unsupported ? 'UnsupportedValue' : 'Accepted', accepted.length === 0 ? message : unsupported ?? message),
        condition('ResolvedRefs', !unresolved, unresolved?.reason ?? 'ResolvedRefs', unresolved?.message ?? 'all references resolved'),
      ];
      parents.push({ parentRef: ref, controllerName: gatewayControllerName, conditions });
      for (const listener of accepted) {
        // Two parentRefs of one route reaching the same listener attach it once.
        if (listener.routes.has(routeKey)) continue;
        listener.routes.add(routeKey);
        listener.attached++;
        for (const hostname of effectiveHostnames(listener.spec.hostname, spec.hostnames ?? [])!) {
          const ranked = listener.hosts.get(hostname) ?? [];
          routes.forEach((route, order) => ranked.push({ route, created, routeKey, order }));
          listener.hosts.set(hostname, ranked);
        }
      }
    });
    if (parents.length > 0) (grpc ? status.grpcRoutes : status.httpRoutes).push({ kind: object.kind as 'HTTPRoute' | 'GRPCRoute', namespace: object.namespace, name: object.name, generation: manifest.metadata?.generation, status: { parents } });
  }

  const meshGateways = new Map<string, MeshGateway>();
  for (const [key, { object, listeners }] of [...gateways].sort(([a], [b]) => a.localeCompare(b))) {
    const programmed: GatewayListener[] = listeners.filter((l) => l.usable).map((l) => ({
      name: l.spec.name,
      port: l.spec.port,
      protocol: l.spec.protocol as GatewayListener['protocol'],
      ...(l.spec.hostname ? { hostname: l.spec.hostname } : {}),
      certificates: l.certificates,
      virtualHosts: [...l.hosts].sort(([a], [b]) => a.localeCompare(b)).map(([hostname, ranked]) => ({ hostname, routes: [...ranked].sort(precedence).map((r) => r.route) })),
    }));
    meshGateways.set(key, { namespace: object.namespace, name: object.name, className: specOf<{ gatewayClassName: string }>(object).spec.gatewayClassName, listeners: programmed });
    const listenerStatus: ListenerStatus[] = listeners.map((l) => ({ name: l.spec.name, attachedRoutes: l.attached, supportedKinds: routeKinds, conditions: l.conditions }));
    const anyProgrammed = programmed.length > 0;
    status.gateways.push({
      kind: 'Gateway',
      namespace: object.namespace,
      name: object.name,
      generation: specOf(object).metadata?.generation,
      status: {
        conditions: [
          condition('Accepted', true, 'Accepted', `handled by ${gatewayControllerName}`),
          condition('Programmed', anyProgrammed, anyProgrammed ? 'Programmed' : 'Invalid', anyProgrammed ? `served to proxies with node metadata mode=gateway, gateway=${key}` : 'no listener can be programmed'),
        ],
        listeners: listenerStatus,
      },
    });
  }
  return { gateways: new FrozenMap(meshGateways), status };
}
