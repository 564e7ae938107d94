/**
 * The Kubernetes kinds Sluice watches, and informers for them built on
 * `@kubernetes/client-node`'s ListWatch (list, then watch from the list's
 * resourceVersion; re-list on 410 Gone; resume from the last seen
 * resourceVersion when a stream ends).
 *
 * Two things the client's ListWatch leaves to its user are done here:
 * - bookmarks and a server-side timeout are requested on every watch (a Watch
 *   subclass adds `allowWatchBookmarks` and `timeoutSeconds`), so a quiet
 *   resource still advances its resourceVersion and a resumed watch is rarely
 *   answered with 410;
 * - after an error the ListWatch stops for good, so it is restarted with
 *   jittered exponential back-off.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { sluiceApiGroup } from '../api/types.js';
import { gatewayApiGroup } from '../api/gateway-api-kinds.js';

export interface WatchedKind {
  readonly kind: string;
  readonly apiVersion: string;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** Our custom resources: validated per object, with status written back. */
  readonly ours: boolean;
  /** Server-side filter (smaller lists and watches). */
  readonly fieldSelector?: string;
  /**
   * A kind only the edge needs (the Gateway API, whose CRDs a cluster may not
   * have; TLS Secrets, which an install may not grant): while the API server
   * answers 404 or 403 it counts as synced with no objects, and is listed
   * again now and then, so installing the CRDs or RBAC later needs no restart.
   */
  readonly optional?: boolean;
  /**
   * Not ours, but resolved per object like ours (kubernetes-last-good.ts): a
   * Gateway API object Sluice refuses falls back to its last good version
   * instead of freezing every other change.
   */
  readonly lastGood?: boolean;
}

const core = (kind: string, plural: string, namespaced: boolean, fieldSelector?: string): WatchedKind => ({ kind, apiVersion: 'v1', group: '', version: 'v1', plural, namespaced, ours: false, fieldSelector });
const ours = (kind: string, plural: string): WatchedKind => ({ kind, apiVersion: `${sluiceApiGroup}/v1alpha1`, group: sluiceApiGroup, version: 'v1alpha1', plural, namespaced: true, ours: true });

const gatewayApi = (kind: string, plural: string, namespaced: boolean, version = 'v1'): WatchedKind => ({ kind, apiVersion: `${gatewayApiGroup}/${version}`, group: gatewayApiGroup, version, plural, namespaced, ours: false, optional: true, lastGood: true });

export const watchedKinds: readonly WatchedKind[] = [
  core('Namespace', 'namespaces', false),
  core('Service', 'services', true),
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, ours: false },
  // Only running or pending pods carry endpoints; finished ones would only cost memory.
  core('Pod', 'pods', true, 'status.phase!=Succeeded,status.phase!=Failed'),
  ours('WorkloadEntry', 'workloadentries'),
  ours('TrafficPolicy', 'trafficpolicies'),
  ours('Canary', 'canaries'),
  // TLS certificates of Gateway listeners only: other Secrets are never read.
  { ...core('Secret', 'secrets', true, 'type=kubernetes.io/tls'), optional: true },
  gatewayApi('GatewayClass', 'gatewayclasses', false),
  gatewayApi('Gateway', 'gateways', true),
  gatewayApi('HTTPRoute', 'httproutes', true),
  gatewayApi('GRPCRoute', 'grpcroutes', true),
  // v1beta1: the version every Gateway API release (standard channel) serves.
  gatewayApi('ReferenceGrant', 'referencegrants', true, 'v1beta1'),
  ours('PeerAuthentication', 'peerauthentications'),
  ours('AuthorizationPolicy', 'authorizationpolicies'),
  ours('TelemetryConfig', 'telemetryconfigs'),
];

export const kindByName = new Map(watchedKinds.map((k) => [k.kind, k]));

/** `/api/v1/namespaces/shop/services`, `/apis/sluice.dev/v1alpha1/trafficpolicies`… */
export function resourcePath(kind: WatchedKind, namespace?: string, name?: string, subresource?: string): string {
  let path = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  if (kind.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${kind.plural}`;
  if (name) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

export class KubernetesApiError extends SluiceError {
  constructor(message: string, context: Record<string, unknown>, options?: { cause?: unknown }) {
    super('kubernetes-api', message, context, options);
  }
}

/** The HTTP status of a client-node error (ApiException `code`, Watch `statusCode`), if any. */
export function httpStatusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

/** A short description of a client error for logs and status (ApiException messages embed whole bodies). */
export function describeApiError(error: unknown): string {
  const status = httpStatusOf(error);
  const body = (error as { body?: unknown } | undefined)?.body;
  let detail: string | undefined;
  if (typeof body === 'string') {
    try {
      detail = (JSON.parse(body) as { message?: string }).message;
    } catch {
      detail = body.slice(0, 200);
    }
  } else if (body && typeof body === 'object') {
    detail = (body as { message?: string }).message;
  }
  const message = detail ?? (error instanceof Error ? error.message.split('\n')[0] : String(error));
  return status !== undefined ? `HTTP ${status}: ${message}` : message ?? 'unknown error';
}

/** Load a kubeconfig: a KubeConfig as is, a file path, or (absent) the pod's in-cluster service account. */
export function loadKubeConfig(kubeconfig: string | KubeConfig | undefined): KubeConfig {
  if (kubeconfig instanceof KubeConfig) return kubeconfig;
  const config = new KubeConfig();
  try {
    if (kubeconfig) config.loadFromFile(kubeconfig);
    else config.loadFromCluster();
  } catch (error) {
    throw new KubernetesApiError(`cannot load ${kubeconfig ? `kubeconfig ${kubeconfig}` : 'the in-cluster configuration'}: ${(error as Error).message}`, { kubeconfig: kubeconfig ?? 'in-cluster' }, { cause: error });
  }
  if (!config.getCurrentCluster()) {
    throw new KubernetesApiError(`${kubeconfig ? `kubeconfig ${kubeconfig}` : 'the in-cluster configuration'} names no current cluster`, { kubeconfig: kubeconfig ?? 'in-cluster' });
  }
  return config;
}

/**
 * Adds what client-node's ListWatch does not ask for: bookmarks, and a server
 * side timeout so a half-open connection is replaced within minutes (client-go
 * uses a random 5–10 minutes so replicas do not reconnect in step).
 */
class BookmarkingWatch extends Watch {
  constructor(config: KubeConfig, private readonly timeoutSeconds: () => number) {
    super(config);
  }

  override watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: any, watchObj?: any) => void, done: (err: any) => void): Promise<AbortController> {
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds() }, callback, done);
  }
}

type Lister = (params: { namespace?: string; fieldSelector?: string; limit: number; continueToken?: string }) => Promise<KubernetesListObject<KubernetesObject>>;

function listerFor(config: KubeConfig, kind: WatchedKind): Lister {
  const coreApi = config.makeApiClient(CoreV1Api);
  const discoveryApi = config.makeApiClient(DiscoveryV1Api);
  const customApi = config.makeApiClient(CustomObjectsApi);
  return async ({ namespace, fieldSelector, limit, continueToken }) => {
    const common = { fieldSelector, limit, _continue: continueToken };
    const ns = kind.namespaced ? namespace : undefined;
    switch (kind.kind) {
      case 'Namespace':
        return coreApi.listNamespace(common) as Promise<KubernetesListObject<KubernetesObject>>;
      case 'Service':
        return (ns ? coreApi.listNamespacedService({ ...common, namespace: ns }) : coreApi.listServiceForAllNamespaces(common)) as Promise<KubernetesListObject<KubernetesObject>>;
      case 'Pod':
        return (ns ? coreApi.listNamespacedPod({ ...common, namespace: ns }) : coreApi.listPodForAllNamespaces(common)) as Promise<KubernetesListObject<KubernetesObject>>;
      case 'Secret':
        return (ns ? coreApi.listNamespacedSecret({ ...common, namespace: ns }) : coreApi.listSecretForAllNamespaces(common)) as Promise<KubernetesListObject<KubernetesObject>>;
      case 'EndpointSlice':
        return (ns ? discoveryApi.listNamespacedEndpointSlice({ ...common, namespace: ns }) : discoveryApi.listEndpointSliceForAllNamespaces(common)) as Promise<KubernetesListObject<KubernetesObject>>;
      default: {
        const base = { group: kind.group, version: kind.version, plural: kind.plural, ...common };
        return (ns ? customApi.listNamespacedCustomObject({ ...base, namespace: ns }) : customApi.listClusterCustomObject(base)) as Promise<KubernetesListObject<KubernetesObject>>;
      }
    }
  };
}

export type InformerEvent = 'add' | 'update' | 'delete';

export interface KindInformerOptions {
  readonly config: KubeConfig;
  readonly kind: WatchedKind;
  /** Watch one namespace (namespaced kinds) or one Namespace object by name (`Namespace`). */
  readonly namespace?: string;
  readonly logger: Logger;
  readonly onEvent: (event: InformerEvent, object: KubernetesObject) => void;
  /** Page size of the initial and re-lists. */
  readonly pageSize?: number;
  readonly backoff?: { initialMs: number; maxMs: number };
  /** How often an optional kind the server does not serve (or allow) is listed again (default 30 s). */
  readonly absentRetryMs?: number;
  readonly watchTimeoutSeconds?: () => number;
}

/** One ListWatch for one kind (optionally in one namespace), restarted with back-off after errors. */
export class KindInformer {
  readonly description: string;
  #listWatch: ListWatch<KubernetesObject>;
  #stopped = true;
  #synced = false;
  #failures = 0;
  #retryTimer?: NodeJS.Timeout;
  #lastError?: unknown;
  /** An optional kind the API server does not serve (its CRD is not installed). */
  #absent = false;
  readonly #syncWaiters: Array<() => void> = [];

  constructor(private readonly options: KindInformerOptions) {
    const { kind, namespace, config } = options;
    this.description = `${kind.plural}${kind.group ? `.${kind.group}` : ''}${namespace ? ` in ${namespace}` : ''}`;
    const lister = listerFor(config, kind);
    // A Namespace "in" a namespace is that one Namespace object, selected by name.
    const fieldSelector = kind.namespaced ? kind.fieldSelector : namespace ? `metadata.name=${namespace}` : kind.fieldSelector;
    const listNamespace = kind.namespaced ? namespace : undefined;
    const pageSize = options.pageSize ?? 500;
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      // Paged like client-go's reflector; every page belongs to the first page's resourceVersion.
      const items: KubernetesObject[] = [];
      let resourceVersion: string | undefined;
      let continueToken: string | undefined;
      try {
        do {
          const page = await lister({ namespace: listNamespace, fieldSelector, limit: pageSize, continueToken });
          resourceVersion ??= page.metadata?.resourceVersion;
          items.push(...page.items);
          continueToken = page.metadata?._continue || undefined;
        } while (continueToken);
      } catch (error) {
        const status = httpStatusOf(error);
        if (kind.optional && (status === 404 || status === 403)) {
          if (!this.#absent) options.logger.warn({ resource: this.description, status }, status === 404 ? 'not served by this cluster (CRD not installed): none read until it is' : 'not allowed by RBAC (see examples/deploy/50-gateway.yaml): none read until it is');
          this.#absent = true;
          this.#markSynced();
        }
        throw error;
      }
      this.#absent = false;
      this.#markSynced();
      return { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata: { resourceVersion }, items };
    };
    const timeout = options.watchTimeoutSeconds ?? (() => 300 + Math.floor(Math.random() * 300));
    this.#listWatch = new ListWatch(resourcePath(kind, listNamespace), new BookmarkingWatch(config, timeout), listFn, false, undefined, fieldSelector);
    for (const event of ['add', 'update', 'delete'] as const) {
      this.#listWatch.on(event, (object) => {
        this.#failures = 0;
        options.onEvent(event, object);
      });
    }
    this.#listWatch.on('error', (error) => this.#onError(error));
  }

  get synced(): boolean {
    return this.#synced;
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  /** Resolves once the first list has succeeded. */
  whenSynced(): Promise<void> {
    return this.#synced ? Promise.resolve() : new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#listWatch.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    await this.#listWatch.stop();
  }

  #markSynced(): void {
    this.#failures = 0;
    this.#lastError = undefined;
    if (this.#synced) return;
    this.#synced = true;
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
  }

  #onError(error: unknown): void {
    // Stopping aborts the request, which the ListWatch reports as an error.
    if (this.#stopped) return;
    this.#lastError = error;
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 250, maxMs: 30_000 };
    const base = this.#absent ? this.options.absentRetryMs ?? 30_000 : Math.min(maxMs, initialMs * 2 ** this.#failures);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.#failures += 1;
    if (!this.#absent) this.options.logger.warn({ resource: this.description, err: describeApiError(error), retryInMs: delay, failures: this.#failures }, 'list/watch failed; retrying');
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (this.#stopped) return;
      this.#listWatch.start().catch((startError: unknown) => this.#onError(startError));
    }, delay);
  }
}
