/**
 * A Kubernetes API server, in process, over HTTP on 127.0.0.1: enough of the
 * real protocol for the real `@kubernetes/client-node` to list, watch and
 * write against it, with the behaviours a controller must survive.
 *
 * - One cluster-wide resourceVersion counter (etcd's revision); lists answer
 *   with it, paged by `limit`/`continue` from a consistent snapshot.
 * - Watches: chunked JSON-lines streams (`?watch=true`), replaying history
 *   after the given resourceVersion; `resourceVersion` unset or "0" starts
 *   with synthetic ADDED events; a compacted (too old) resourceVersion gets
 *   an ERROR event carrying Status 410 Expired, then the stream ends, as the
 *   real server does; `allowWatchBookmarks` gets periodic BOOKMARK events;
 *   `timeoutSeconds` ends the stream; label and field selectors filter, and
 *   an object leaving a selector is sent as DELETED.
 * - Writes: create (409 AlreadyExists), update/patch with optimistic
 *   concurrency (a stale metadata.resourceVersion gets 409 Conflict), merge
 *   patch and JSON patch (strategic merge patch only for built-in kinds, 415
 *   for custom resources, as the real server), the status subresource (spec
 *   changes bump metadata.generation; writes to /status change only status),
 *   CRD schema validation (422 Invalid), MicroTime format checks on Leases.
 * - Delegated auth: TokenReview (tokens from issueToken()) and
 *   SubjectAccessReview, decided by the stored RBAC objects.
 * - Test controls: drop live watch connections mid-stream, compact history
 *   (forcing 410), inject failures, inspect the request log.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { KubeConfig } from '@kubernetes/client-node';

const { applyPatch } = fastJsonPatch;

export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly statusSubresource: boolean;
  /** A custom resource: list items keep apiVersion/kind, strategic merge patch is refused. */
  readonly custom: boolean;
  readonly schema?: ValidateFunction;
}

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; creationTimestamp?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEvent {
  readonly rv: number;
  readonly type: EventType;
  readonly typeKey: string;
  readonly object: KubeObject;
  readonly previous?: KubeObject;
}

interface Watcher {
  readonly typeKey: string;
  readonly type: ResourceType;
  readonly namespace?: string;
  readonly labelSelector: Selector;
  readonly fieldSelector: Selector;
  readonly response: ServerResponse;
  readonly bookmarks: boolean;
  readonly timers: NodeJS.Timeout[];
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType?: string;
  /** Who sent it: the bearer token (see kubeconfigYaml(user)). */
  readonly user: string;
  status?: number;
}

type Selector = (object: KubeObject) => boolean;

const builtin = (group: string, version: string, plural: string, kind: string, namespaced: boolean): ResourceType => ({ group, version, plural, kind, namespaced, statusSubresource: false, custom: false });

export const builtinTypes: readonly ResourceType[] = [
  builtin('', 'v1', 'namespaces', 'Namespace', false),
  builtin('', 'v1', 'services', 'Service', true),
  builtin('', 'v1', 'pods', 'Pod', true),
  builtin('', 'v1', 'events', 'Event', true),
  builtin('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true),
  builtin('coordination.k8s.io', 'v1', 'leases', 'Lease', true),
  // What an install applies (test/install): workloads, RBAC, configuration, the webhook and CRDs themselves.
  builtin('', 'v1', 'secrets', 'Secret', true),
  builtin('', 'v1', 'configmaps', 'ConfigMap', true),
  builtin('', 'v1', 'serviceaccounts', 'ServiceAccount', true),
  builtin('apps', 'v1', 'deployments', 'Deployment', true),
  builtin('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true),
  builtin('autoscaling', 'v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', true),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  builtin('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true),
  builtin('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true),
  builtin('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false),
  builtin('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false),
];

const apiVersionOf = (type: ResourceType) => (type.group ? `${type.group}/${type.version}` : type.version);
const typeKeyOf = (group: string, version: string, plural: string) => `${group}/${version}/${plural}`;
const objectKeyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
const clone = <T>(value: T): T => structuredClone(value);
/** metav1.Time: RFC 3339, seconds precision. */
const timeNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const microTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

function getPath(object: unknown, dotted: string): unknown {
  let value: unknown = object;
  for (const part of dotted.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Split on commas outside parentheses: `a in (x,y),b!=c`. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else current += char;
  }
  if (current.trim()) terms.push(current.trim());
  return terms;
}

export class BadSelectorError extends Error {}

export function parseLabelSelector(text: string | undefined): Selector {
  if (!text) return () => true;
  const tests = splitTerms(text).map((term): Selector => {
    const labels = (o: KubeObject) => o.metadata.labels ?? {};
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      const [, key, op, list] = m;
      const values = new Set(list!.split(',').map((v) => v.trim()));
      return op === 'in' ? (o) => values.has(labels(o)[key!] as string) : (o) => !values.has(labels(o)[key!] as string);
    }
    if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term))) {
      const [, key, op, value] = m;
      return op === '!=' ? (o) => labels(o)[key!] !== value : (o) => labels(o)[key!] === value;
    }
    if ((m = /^!([\w./-]+)$/.exec(term))) return (o) => !(m![1]! in labels(o));
    if ((m = /^([\w./-]+)$/.exec(term))) return (o) => m![1]! in labels(o);
    throw new BadSelectorError(`unable to parse requirement: ${term}`);
  });
  return (o) => tests.every((t) => t(o));
}

export function parseFieldSelector(text: string | undefined): Selector {
  if (!text) return () => true;
  const tests = splitTerms(text).map((term): Selector => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new BadSelectorError(`invalid field selector: ${term}`);
    const [, field, op, value] = m;
    return op === '!=' ? (o) => String(getPath(o, field!) ?? '') !== value : (o) => String(getPath(o, field!) ?? '') === value;
  });
  return (o) => tests.every((t) => t(o));
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const result: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

class HttpStatus extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

export interface FakeKubeApiServerOptions {
  /** Interval of BOOKMARK events on watches that allow them (real servers: about a minute). */
  readonly bookmarkIntervalMs?: number;
  /** Events kept for watch resumption; older resourceVersions get 410. */
  readonly historyLimit?: number;
  /** CustomResourceDefinition manifests to serve (their openAPIV3Schema is enforced on writes). */
  readonly crds?: readonly Record<string, any>[];
  /**
   * As the real NamespaceLifecycle admission plugin: creating an object in a
   * namespace that does not exist fails with 404. Off by default (most tests
   * seed objects without their Namespace).
   */
  readonly namespaceLifecycle?: boolean;
}

export class FakeKubeApiServer {
  readonly #server: Server;
  readonly #types = new Map<string, ResourceType>();
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: HistoryEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #snapshots = new Map<string, { items: KubeObject[]; rv: number }>();
  readonly #failures: Array<{ match: (r: RequestRecord) => boolean; status: number; remaining: number }> = [];
  readonly #options: Required<Omit<FakeKubeApiServerOptions, 'crds'>>;
  readonly #ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  /** Bearer tokens issued by kubeconfigYaml(); any other request gets 401. */
  readonly #tokens = new Set<string>();
  /** Tokens of users who call other servers (issueToken), answered by TokenReview. */
  readonly #users = new Map<string, { username: string; uid: string; groups: string[] }>();
  #rv = 1000;
  /** Events at or below this resourceVersion are gone (compacted). */
  #compactedRv = 1000;
  #url = '';
  readonly requests: RequestRecord[] = [];

  private constructor(options: FakeKubeApiServerOptions) {
    this.#options = { bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000, historyLimit: options.historyLimit ?? 10_000, namespaceLifecycle: options.namespaceLifecycle ?? false };
    for (const type of builtinTypes) this.#types.set(typeKeyOf(type.group, type.version, type.plural), type);
    for (const crd of options.crds ?? []) this.#serveCrd(crd);
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(options: FakeKubeApiServerOptions = {}): Promise<FakeKubeApiServer> {
    const server = new FakeKubeApiServer(options);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    server.#url = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`;
    return server;
  }

  get url(): string {
    return this.#url;
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  kubeConfig(user = 'tester'): KubeConfig {
    const config = new KubeConfig();
    config.loadFromString(this.kubeconfigYaml(user));
    return config;
  }

  /** A kubeconfig for `user`: requests it authorises are recorded with that user. */
  kubeconfigYaml(user = 'tester'): string {
    this.#tokens.add(user);
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.#url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: user, user: { token: user } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user } }],
      'current-context': 'fake',
    });
  }

  /**
   * A bearer token for `username` (with `groups`), as a user or a
   * `kubectl create token` service-account token would be: TokenReview
   * authenticates it, SubjectAccessReview decides by the RBAC objects stored here.
   */
  issueToken(username: string, groups: readonly string[] = []): string {
    const token = `token-${randomUUID()}`;
    this.#users.set(token, { username, uid: randomUUID(), groups: [...groups, 'system:authenticated'] });
    this.#tokens.add(token);
    return token;
  }

  /** Write a kubeconfig file pointing at this server; returns its path. */
  async writeKubeconfig(user = 'tester'): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-kube-'));
    const file = path.join(dir, 'kubeconfig');
    await writeFile(file, this.kubeconfigYaml(user));
    return file;
  }

  async close(): Promise<void> {
    for (const watcher of [...this.#watchers]) this.#endWatch(watcher, true);
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ---- direct state access for tests (as if another client wrote to the cluster) ----

  /** Create, or update when it exists (unconditionally), as `kubectl apply` would. Returns the stored object. */
  apply(object: Record<string, any>): KubeObject {
    const type = this.#typeOfObject(object);
    const existing = this.#get(type, object.metadata?.namespace, object.metadata?.name);
    if (!existing) return clone(this.#create(type, object.metadata?.namespace, clone(object) as KubeObject));
    const next = clone(object) as KubeObject;
    delete next.metadata.resourceVersion;
    return clone(this.#update(type, existing, next, false));
  }

  /** Write an object's status through the status subresource rules. */
  applyStatus(object: Record<string, any>): KubeObject {
    const type = this.#typeOfObject(object);
    const existing = this.#get(type, object.metadata?.namespace, object.metadata?.name);
    if (!existing) throw new Error(`no ${type.kind} ${object.metadata?.namespace}/${object.metadata?.name}`);
    return clone(this.#update(type, existing, { ...clone(existing), status: clone(object.status) }, true));
  }

  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): void {
    const type = this.#typeOfObject({ apiVersion, kind });
    const existing = this.#get(type, namespace, name);
    if (!existing) throw new Error(`no ${kind} ${namespace}/${name}`);
    this.#delete(type, existing);
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const object = this.#get(this.#typeOfObject({ apiVersion, kind }), namespace, name);
    return object ? clone(object) : undefined;
  }

  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const type = this.#typeOfObject({ apiVersion, kind });
    return [...(this.#objects.get(this.#keyOfType(type))?.values() ?? [])].filter((o) => !namespace || o.metadata.namespace === namespace).map(clone);
  }

  /** Cut every live watch connection (as a load balancer or network would). Returns how many. */
  dropWatches(filter: (path: string) => boolean = () => true): number {
    let count = 0;
    for (const watcher of [...this.#watchers]) {
      if (!filter(watcher.typeKey)) continue;
      this.#endWatch(watcher, true);
      count++;
    }
    return count;
  }

  /**
   * Forget the event history (etcd compaction): a watch resumed from an older
   * resourceVersion gets 410. Live watches are told so (ERROR 410) and ended,
   * the way an API server whose watch cache fell behind does.
   */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history.length = 0;
    for (const watcher of [...this.#watchers]) {
      this.#send(watcher, { type: 'ERROR', object: this.#status(new HttpStatus(410, 'Expired', `too old resource version: ${this.#rv}`)) });
      this.#endWatch(watcher, false);
    }
  }

  /** The next `count` requests matching `match` fail with `status`. */
  failRequests(match: (request: RequestRecord) => boolean, status: number, count = 1): void {
    this.#failures.push({ match, status, remaining: count });
  }

  get activeWatches(): number {
    return this.#watchers.size;
  }

  // ---- storage ----

  /** Serve the kind a CustomResourceDefinition defines (given at start, or created through the API). */
  #serveCrd(crd: Record<string, any>): void {
    const spec = crd.spec;
    for (const version of spec.versions as any[]) {
      const key = typeKeyOf(spec.group, version.name, spec.names.plural);
      if (this.#types.has(key)) continue;
      this.#types.set(key, {
        group: spec.group,
        version: version.name,
        plural: spec.names.plural,
        kind: spec.names.kind,
        namespaced: spec.scope === 'Namespaced',
        statusSubresource: Boolean(version.subresources?.status),
        custom: true,
        schema: version.schema?.openAPIV3Schema ? this.#ajv.compile(version.schema.openAPIV3Schema) : undefined,
      });
    }
  }

  #keyOfType(type: ResourceType): string {
    return typeKeyOf(type.group, type.version, type.plural);
  }

  #typeOfObject(object: { apiVersion?: string; kind?: string }): ResourceType {
    for (const type of this.#types.values()) if (apiVersionOf(type) === object.apiVersion && type.kind === object.kind) return type;
    throw new Error(`fake API server does not serve ${object.apiVersion} ${object.kind}`);
  }

  #get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#objects.get(this.#keyOfType(type))?.get(objectKeyOf(type.namespaced ? namespace : undefined, name));
  }

  #validate(type: ResourceType, object: KubeObject): void {
    const name = object.metadata.name;
    if (type.schema && !type.schema(object)) {
      const causes = (type.schema.errors ?? []).map((e) => ({ reason: 'FieldValueInvalid', message: e.message, field: e.instancePath.slice(1).replace(/\//g, '.') }));
      throw new HttpStatus(422, 'Invalid', `${type.kind}.${type.group} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, { causes, name });
    }
    if (type.kind === 'Lease') {
      const spec = (object.spec ?? {}) as Record<string, unknown>;
      for (const field of ['acquireTime', 'renewTime']) {
        if (spec[field] !== undefined && spec[field] !== null && !microTimePattern.test(String(spec[field]))) {
          throw new HttpStatus(400, 'BadRequest', `Lease in version "v1" cannot be handled as a Lease: parsing time "${String(spec[field])}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse`);
        }
      }
    }
  }

  #record(type: EventType, kind: ResourceType, object: KubeObject, previous?: KubeObject): void {
    const event: HistoryEvent = { rv: Number(object.metadata.resourceVersion), type, typeKey: this.#keyOfType(kind), object: clone(object), previous: previous ? clone(previous) : undefined };
    this.#history.push(event);
    if (this.#history.length > this.#options.historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#options.historyLimit);
      this.#compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const watcher of this.#watchers) this.#deliver(watcher, event);
  }

  #create(type: ResourceType, namespace: string | undefined, object: KubeObject): KubeObject {
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    object.metadata ??= {} as KubeObject['metadata'];
    if (!object.metadata.name && typeof object.metadata.generateName === 'string') object.metadata.name = `${object.metadata.generateName}${randomUUID().slice(0, 5)}`;
    if (!object.metadata.name) throw new HttpStatus(422, 'Invalid', `${type.kind} "" is invalid: metadata.name: Required value`);
    if (type.namespaced) {
      const ns = namespace ?? object.metadata.namespace ?? 'default';
      if (object.metadata.namespace && object.metadata.namespace !== ns) throw new HttpStatus(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      object.metadata.namespace = ns;
    } else delete object.metadata.namespace;
    if (this.#options.namespaceLifecycle && type.namespaced && !this.#get(this.#types.get(typeKeyOf('', 'v1', 'namespaces'))!, undefined, object.metadata.namespace!)) {
      throw new HttpStatus(404, 'NotFound', `namespaces "${object.metadata.namespace}" not found`, { name: object.metadata.namespace, kind: 'namespaces' });
    }
    if (this.#get(type, object.metadata.namespace, object.metadata.name)) {
      throw new HttpStatus(409, 'AlreadyExists', `${type.plural}${type.group ? `.${type.group}` : ''} "${object.metadata.name}" already exists`, { name: object.metadata.name, kind: type.plural });
    }
    if (type.statusSubresource) delete object.status;
    this.#validate(type, object);
    object.metadata.uid = randomUUID();
    object.metadata.creationTimestamp = timeNow();
    object.metadata.generation = 1;
    object.metadata.resourceVersion = String(++this.#rv);
    const key = this.#keyOfType(type);
    if (!this.#objects.has(key)) this.#objects.set(key, new Map());
    this.#objects.get(key)!.set(objectKeyOf(object.metadata.namespace, object.metadata.name), object);
    this.#record('ADDED', type, object);
    if (type.kind === 'CustomResourceDefinition') this.#serveCrd(object);
    return object;
  }

  /** Store `next` over `existing`: optimistic concurrency, subresource rules, generation. */
  #update(type: ResourceType, existing: KubeObject, next: KubeObject, statusOnly: boolean): KubeObject {
    const sent = next.metadata?.resourceVersion;
    if (sent !== undefined && sent !== '' && sent !== existing.metadata.resourceVersion) {
      throw new HttpStatus(409, 'Conflict', `Operation cannot be fulfilled on ${type.plural}${type.group ? `.${type.group}` : ''} "${existing.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`, { name: existing.metadata.name, kind: type.plural });
    }
    let stored: KubeObject;
    if (statusOnly) {
      stored = { ...clone(existing), status: clone(next.status) };
    } else {
      stored = clone(next);
      stored.metadata = { ...clone(next.metadata ?? {}), name: existing.metadata.name, uid: existing.metadata.uid, creationTimestamp: existing.metadata.creationTimestamp, generation: existing.metadata.generation };
      if (existing.metadata.namespace) stored.metadata.namespace = existing.metadata.namespace;
      if (type.statusSubresource) {
        if (existing.status === undefined) delete stored.status;
        else stored.status = clone(existing.status);
      }
    }
    stored.apiVersion = apiVersionOf(type);
    stored.kind = type.kind;
    this.#validate(type, stored);
    // generation counts changes of everything but metadata and status (the "spec").
    const specOf = (o: KubeObject) => JSON.stringify(Object.entries(o).filter(([k]) => !['metadata', 'status', 'apiVersion', 'kind'].includes(k)).sort(([a], [b]) => a.localeCompare(b)));
    const changed = JSON.stringify({ ...stored, metadata: { ...stored.metadata, resourceVersion: undefined } }) !== JSON.stringify({ ...existing, metadata: { ...existing.metadata, resourceVersion: undefined } });
    if (!changed) return existing; // a no-op write keeps the resourceVersion, as the real server does
    if (!statusOnly && specOf(stored) !== specOf(existing)) stored.metadata.generation = (existing.metadata.generation ?? 1) + 1;
    stored.metadata.resourceVersion = String(++this.#rv);
    this.#objects.get(this.#keyOfType(type))!.set(objectKeyOf(stored.metadata.namespace, stored.metadata.name), stored);
    this.#record('MODIFIED', type, stored, existing);
    return stored;
  }

  #delete(type: ResourceType, existing: KubeObject): KubeObject {
    this.#objects.get(this.#keyOfType(type))!.delete(objectKeyOf(existing.metadata.namespace, existing.metadata.name));
    const gone = { ...clone(existing), metadata: { ...clone(existing.metadata), resourceVersion: String(++this.#rv) } };
    this.#record('DELETED', type, gone);
    return gone;
  }

  // ---- HTTP ----

  #status(error: HttpStatus): Record<string, unknown> {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: error.message, reason: error.reason, details: error.details, code: error.code };
  }

  #reply(res: ServerResponse, record: RequestRecord, code: number, body: unknown): void {
    record.status = code;
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.#url);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), contentType: req.headers['content-type'], user: token };
    this.requests.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        if (!this.#tokens.has(token)) throw new HttpStatus(401, 'Unauthorized', 'Unauthorized');
        const failure = this.#failures.find((f) => f.remaining > 0 && f.match(record));
        if (failure) {
          failure.remaining--;
          throw new HttpStatus(failure.status, failure.status === 429 ? 'TooManyRequests' : 'InternalError', `injected failure (${failure.status})`);
        }
        const body = chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
        this.#route(req, res, url, record, body);
      } catch (error) {
        if (error instanceof HttpStatus) this.#reply(res, record, error.code, this.#status(error));
        else if (error instanceof BadSelectorError) this.#reply(res, record, 400, this.#status(new HttpStatus(400, 'BadRequest', error.message)));
        else this.#reply(res, record, 500, this.#status(new HttpStatus(500, 'InternalError', (error as Error).message)));
      }
    });
  }

  /** TokenReview: who holds `spec.token` (issueToken users; kubeconfig tokens are their own user name). */
  #tokenReview(review: Record<string, any>): Record<string, unknown> {
    const token = typeof review.spec?.token === 'string' ? review.spec.token : '';
    const user = this.#users.get(token) ?? (this.#tokens.has(token) ? { username: token, uid: token, groups: ['system:authenticated'] } : undefined);
    return { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: {}, spec: review.spec, status: user ? { authenticated: true, user } : { authenticated: false, error: 'invalid bearer token' } };
  }

  /**
   * SubjectAccessReview decided by the RBAC authorizer's rules over the stored
   * Roles, ClusterRoles and their bindings: a RoleBinding grants in its own
   * namespace only; verbs, apiGroups, resources (`resource/subresource`) and
   * resourceNames must each match, `*` matching anything.
   */
  #subjectAccessReview(review: Record<string, any>): Record<string, unknown> {
    const spec = review.spec ?? {};
    const attributes = spec.resourceAttributes ?? {};
    const groups: string[] = Array.isArray(spec.groups) ? spec.groups : [];
    const isSubject = (subject: Record<string, any>) =>
      (subject.kind === 'User' && subject.name === spec.user) ||
      (subject.kind === 'Group' && groups.includes(subject.name)) ||
      (subject.kind === 'ServiceAccount' && spec.user === `system:serviceaccount:${subject.namespace}:${subject.name}`);
    const resource = attributes.subresource ? `${attributes.resource}/${attributes.subresource}` : attributes.resource;
    const has = (list: unknown, value: string | undefined) => Array.isArray(list) && (list.includes('*') || (value !== undefined && list.includes(value)));
    const grants = (rule: Record<string, any>) =>
      has(rule.verbs, attributes.verb) && has(rule.apiGroups, attributes.group ?? '') && has(rule.resources, resource) &&
      (!Array.isArray(rule.resourceNames) || rule.resourceNames.length === 0 || rule.resourceNames.includes(attributes.name));
    const rulesOf = (roleRef: Record<string, any>, namespace?: string): Record<string, any>[] => {
      const role = roleRef.kind === 'ClusterRole' ? this.get('rbac.authorization.k8s.io/v1', 'ClusterRole', undefined, roleRef.name) : this.get('rbac.authorization.k8s.io/v1', 'Role', namespace, roleRef.name);
      return (role?.rules as Record<string, any>[] | undefined) ?? [];
    };
    const bindings = [
      ...this.list('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding').map((b) => ({ b, namespace: undefined })),
      ...this.list('rbac.authorization.k8s.io/v1', 'RoleBinding').filter((b) => b.metadata.namespace === attributes.namespace).map((b) => ({ b, namespace: b.metadata.namespace })),
    ];
    const by = bindings.find(({ b, namespace }) => ((b.subjects as Record<string, any>[] | undefined) ?? []).some(isSubject) && rulesOf(b.roleRef as Record<string, any>, namespace).some(grants));
    const status = by ? { allowed: true, reason: `RBAC: allowed by ${by.namespace ? 'RoleBinding' : 'ClusterRoleBinding'} "${by.b.metadata.name}"` } : { allowed: false, reason: '' };
    return { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: {}, spec, status };
  }

  #route(req: IncomingMessage, res: ServerResponse, url: URL, record: RequestRecord, body: string | undefined): void {
    if (req.method === 'POST' && (url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews' || url.pathname === '/apis/authorization.k8s.io/v1/subjectaccessreviews')) {
      let review: Record<string, any>;
      try {
        review = JSON.parse(body ?? '') as Record<string, any>;
      } catch {
        throw new HttpStatus(400, 'BadRequest', 'the request body is not valid JSON');
      }
      return this.#reply(res, record, 201, url.pathname.endsWith('tokenreviews') ? this.#tokenReview(review) : this.#subjectAccessReview(review));
    }
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 2) [group, version, rest] = ['', segments[1]!, segments.slice(2)];
    else if (segments[0] === 'apis' && segments.length >= 3) [group, version, rest] = [segments[1]!, segments[2]!, segments.slice(3)];
    else throw new HttpStatus(404, 'NotFound', 'the server could not find the requested resource');
    // namespaces/{ns}/{plural}[/{name}[/status]] vs {plural}[/{name}[/status]]
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource, ...extra] = rest;
    const type = plural ? this.#types.get(typeKeyOf(group, version, plural)) : undefined;
    if (!type || extra.length > 0 || (subresource !== undefined && subresource !== 'status') || (subresource === 'status' && !type.statusSubresource)) {
      throw new HttpStatus(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (namespace && !type.namespaced) throw new HttpStatus(404, 'NotFound', 'the server could not find the requested resource');
    const method = req.method ?? 'GET';
    const parsed = (): KubeObject => {
      try {
        return JSON.parse(body ?? '') as KubeObject;
      } catch {
        throw new HttpStatus(400, 'BadRequest', 'the request body is not valid JSON');
      }
    };
    const notFound = () => new HttpStatus(404, 'NotFound', `${type.plural}${type.group ? `.${type.group}` : ''} "${name}" not found`, { name, group: type.group, kind: type.plural });

    if (!name) {
      if (method === 'GET') {
        const watch = url.searchParams.get('watch');
        if (watch === 'true' || watch === '1') return this.#watch(type, namespace, url, res, record);
        return this.#reply(res, record, 200, this.#list(type, namespace, url));
      }
      if (method === 'POST') {
        const object = parsed();
        if (type.namespaced && !namespace) throw new HttpStatus(405, 'MethodNotAllowed', 'create needs a namespace');
        return this.#reply(res, record, 201, this.#create(type, namespace, object));
      }
      throw new HttpStatus(405, 'MethodNotAllowed', `${method} is not supported on a collection`);
    }

    const existing = this.#get(type, namespace, name);
    if (method === 'GET') {
      if (!existing) throw notFound();
      return this.#reply(res, record, 200, existing);
    }
    if (method === 'DELETE') {
      if (!existing) throw notFound();
      return this.#reply(res, record, 200, this.#delete(type, existing));
    }
    if (method === 'PUT') {
      if (!existing) throw notFound();
      const object = parsed();
      if (object.metadata?.name && object.metadata.name !== name) throw new HttpStatus(400, 'BadRequest', 'the name of the object does not match the name on the URL');
      return this.#reply(res, record, 200, this.#update(type, existing, object, subresource === 'status'));
    }
    if (method === 'PATCH') {
      if (!existing) throw notFound();
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      let patched: KubeObject;
      const patch = JSON.parse(body ?? 'null') as unknown;
      if (contentType === 'application/merge-patch+json' || (contentType === 'application/strategic-merge-patch+json' && !type.custom)) {
        patched = mergePatch(clone(existing), patch) as KubeObject;
      } else if (contentType === 'application/json-patch+json') {
        try {
          patched = applyPatch(clone(existing), patch as Operation[], true, false).newDocument;
        } catch (error) {
          throw new HttpStatus(422, 'Invalid', `the JSON patch could not be applied: ${(error as Error).message.split('\n')[0]}`);
        }
      } else {
        throw new HttpStatus(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json${type.custom ? '' : ', application/strategic-merge-patch+json'}`);
      }
      // A resourceVersion the patch sets is a precondition; one it leaves alone is not.
      const sentVersion = patched.metadata?.resourceVersion !== existing.metadata.resourceVersion ? patched.metadata?.resourceVersion : undefined;
      const next = { ...patched, metadata: { ...patched.metadata, resourceVersion: sentVersion } } as KubeObject;
      return this.#reply(res, record, 200, this.#update(type, existing, next, subresource === 'status'));
    }
    throw new HttpStatus(405, 'MethodNotAllowed', `${method} is not supported`);
  }

  #visible(type: ResourceType, namespace: string | undefined, url: URL): (o: KubeObject) => boolean {
    const labels = parseLabelSelector(url.searchParams.get('labelSelector') ?? undefined);
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector') ?? undefined);
    return (o) => (!type.namespaced || !namespace || o.metadata.namespace === namespace) && labels(o) && fields(o);
  }

  #asListItem(type: ResourceType, object: KubeObject): KubeObject {
    if (type.custom) return object;
    // Built-in list items carry no apiVersion/kind; clients must not rely on them.
    const { apiVersion: _a, kind: _k, ...rest } = object;
    return rest as KubeObject;
  }

  #list(type: ResourceType, namespace: string | undefined, url: URL): Record<string, unknown> {
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const token = url.searchParams.get('continue');
    let snapshot: { items: KubeObject[]; rv: number };
    let offset = 0;
    if (token) {
      const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { id: string; offset: number };
      const stored = this.#snapshots.get(decoded.id);
      if (!stored) throw new HttpStatus(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
      snapshot = stored;
      offset = decoded.offset;
    } else {
      const visible = this.#visible(type, namespace, url);
      const items = [...(this.#objects.get(this.#keyOfType(type))?.values() ?? [])].filter(visible).sort((a, b) => objectKeyOf(a.metadata.namespace, a.metadata.name).localeCompare(objectKeyOf(b.metadata.namespace, b.metadata.name)));
      snapshot = { items: items.map(clone), rv: this.#rv };
    }
    const end = limit > 0 ? Math.min(snapshot.items.length, offset + limit) : snapshot.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.rv) };
    if (end < snapshot.items.length) {
      const id = randomUUID();
      this.#snapshots.set(id, snapshot);
      if (this.#snapshots.size > 100) this.#snapshots.delete(this.#snapshots.keys().next().value!);
      metadata.continue = Buffer.from(JSON.stringify({ id, offset: end })).toString('base64url');
      metadata.remainingItemCount = snapshot.items.length - end;
    }
    return { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata, items: snapshot.items.slice(offset, end).map((o) => this.#asListItem(type, o)) };
  }

  #watch(type: ResourceType, namespace: string | undefined, url: URL, res: ServerResponse, record: RequestRecord): void {
    const visible = this.#visible(type, namespace, url);
    const watcher: Watcher = {
      typeKey: this.#keyOfType(type),
      type,
      namespace,
      labelSelector: parseLabelSelector(url.searchParams.get('labelSelector') ?? undefined),
      fieldSelector: parseFieldSelector(url.searchParams.get('fieldSelector') ?? undefined),
      response: res,
      bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
      timers: [],
    };
    record.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    this.#watchers.add(watcher);
    res.on('close', () => this.#endWatch(watcher, false));
    const from = url.searchParams.get('resourceVersion') ?? '';
    if (from === '' || from === '0') {
      for (const object of this.#objects.get(watcher.typeKey)?.values() ?? []) if (visible(object)) this.#send(watcher, { type: 'ADDED', object });
    } else if (Number(from) < this.#compactedRv) {
      this.#send(watcher, { type: 'ERROR', object: this.#status(new HttpStatus(410, 'Expired', `too old resource version: ${from} (${this.#compactedRv})`)) });
      this.#endWatch(watcher, false);
      return;
    } else {
      for (const event of this.#history) if (event.rv > Number(from)) this.#deliver(watcher, event);
    }
    if (watcher.bookmarks) {
      watcher.timers.push(setInterval(() => this.#send(watcher, { type: 'BOOKMARK', object: { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(this.#rv) } } }), this.#options.bookmarkIntervalMs));
    }
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) watcher.timers.push(setTimeout(() => this.#endWatch(watcher, false), timeoutSeconds * 1000));
  }

  /** Send one history event to a watcher, translating selector transitions into ADDED/DELETED. */
  #deliver(watcher: Watcher, event: HistoryEvent): void {
    if (event.typeKey !== watcher.typeKey) return;
    const inScope = (o: KubeObject | undefined) => o !== undefined && (!watcher.type.namespaced || !watcher.namespace || o.metadata.namespace === watcher.namespace) && watcher.labelSelector(o) && watcher.fieldSelector(o);
    const now = inScope(event.object);
    if (event.type !== 'MODIFIED') {
      if (now) this.#send(watcher, { type: event.type, object: event.object });
      return;
    }
    const before = inScope(event.previous);
    if (now && before) this.#send(watcher, { type: 'MODIFIED', object: event.object });
    else if (now) this.#send(watcher, { type: 'ADDED', object: event.object });
    else if (before) this.#send(watcher, { type: 'DELETED', object: event.object });
  }

  #send(watcher: Watcher, event: { type: string; object: unknown }): void {
    if (!watcher.response.writableEnded && !watcher.response.destroyed) watcher.response.write(`${JSON.stringify(event)}\n`);
  }

  #endWatch(watcher: Watcher, abruptly: boolean): void {
    if (!this.#watchers.delete(watcher)) return;
    for (const timer of watcher.timers) clearTimeout(timer);
    if (abruptly) watcher.response.socket?.destroy();
    else watcher.response.end();
  }
}
