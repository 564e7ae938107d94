/**
 * The Kubernetes source: builds the object set from a live cluster instead of
 * a YAML directory. Informers (list + watch) keep a copy of every Service,
 * EndpointSlice, Pod (labels), Namespace and of our custom resources; bursts
 * of watch events are coalesced into one load; each of our objects is checked
 * on its own and, when invalid, replaced by its last good version (see
 * kubernetes-last-good.ts), so the load handed on never has issues. The
 * verdicts go back to the cluster as `status.conditions[Accepted]` and Events,
 * written only by the leader.
 */
import { hostname } from 'node:os';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { checkManifest, type CheckResult } from '../api/validator.js';
import { contentHash } from '../lib/canonical-json.js';
import { formatConfigIssue } from '../core/errors.js';
import { originWithoutPositions, type SourceObject } from '../core/source-object.js';
import type { CheckObjects, ConfigSource, LoadResult } from '../core/config-source.js';
import { describeApiError, KindInformer, KubernetesApiError, loadKubeConfig, watchedKinds, type InformerEvent, type WatchedKind } from './kubernetes-informers.js';
import { objectKey, resolveLastGood, type OwnedObject, type Resolution, type Verdict } from './kubernetes-last-good.js';
import { acceptedCondition, StatusWriter, type Condition } from './kubernetes-status.js';

export { StatusWriter } from './kubernetes-status.js';
export { KubernetesApiError } from './kubernetes-informers.js';

/** What the source needs of a leader elector (see leader-election.ts). */
export interface LeadershipView {
  isLeader(): boolean;
  onStartedLeading(listener: () => void): () => void;
}

export interface KubernetesSourceOptions {
  /** Path of a kubeconfig file (or a loaded KubeConfig); absent: the pod's in-cluster service account. */
  readonly kubeconfig?: string | KubeConfig;
  /** Watch only these namespaces (and their Namespace objects); absent: the whole cluster. */
  readonly namespaces?: readonly string[];
  readonly logger: Logger;
  /** The model's cross-object check, to pick which version of each object to serve. */
  readonly checkObjects: CheckObjects;
  /** Status and Events are written only while this replica leads; absent: always (a single replica). */
  readonly leader?: LeadershipView;
  /** Watch events arriving within this window are one load (default 75 ms). */
  readonly coalesceMs?: number;
  /** start() fails when the first list of every kind has not succeeded by then (default 30 s). */
  readonly syncTimeoutMs?: number;
  /** Events' reportingInstance; default POD_NAME or the host name. */
  readonly identity?: string;
  /**
   * Read Secrets of type kubernetes.io/tls (HTTPS Gateway listeners' certificates).
   * Off by default: it needs RBAC to read TLS Secrets cluster-wide (the
   * webhook's own included), which an install should grant only on purpose.
   */
  readonly tlsSecrets?: boolean;
  /** Informer tuning, for tests. */
  readonly backoff?: { initialMs: number; maxMs: number };
  readonly pageSize?: number;
  /** How often a Gateway API kind whose CRD is missing (or a kind RBAC refuses) is listed again (default 30 s). */
  readonly absentKindRetryMs?: number;
}

interface Entry {
  readonly kind: WatchedKind;
  readonly namespace: string;
  readonly name: string;
  /** As received, for the status writer (resourceVersion, status). */
  readonly raw: KubernetesObject & { status?: unknown };
  /** The fields the model reads; volatile metadata and status left out so status writes do not change snapshots. */
  readonly manifest: Record<string, unknown>;
  readonly hash: string;
  check?: CheckResult;
}

const dropAnnotations = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/** The part of an object the model reads, as plain JSON (list items arrive as typed class instances, watch events as JSON). */
export function normalizeObject(kind: WatchedKind, object: KubernetesObject): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(object)) as Record<string, any>;
  const meta = (plain.metadata ?? {}) as Record<string, any>;
  const metadata: Record<string, unknown> = { name: meta.name };
  if (kind.namespaced) metadata.namespace = meta.namespace;
  if (meta.labels && Object.keys(meta.labels).length > 0) metadata.labels = meta.labels;
  const annotations = Object.entries((meta.annotations ?? {}) as Record<string, string>).filter(([k]) => !dropAnnotations.has(k));
  if (annotations.length > 0) metadata.annotations = Object.fromEntries(annotations);
  // Ours and the Gateway API's kinds get status written back, which names the generation it describes.
  if ((kind.ours || kind.optional) && typeof meta.generation === 'number') metadata.generation = meta.generation;
  // The Gateway API orders equally specific routes by age.
  if (kind.optional && typeof meta.creationTimestamp === 'string') metadata.creationTimestamp = meta.creationTimestamp;
  const manifest: Record<string, unknown> = { apiVersion: kind.apiVersion, kind: kind.kind, metadata };
  switch (kind.kind) {
    case 'Namespace':
    case 'Pod':
      break;
    case 'Secret':
      for (const field of ['type', 'data']) if (plain[field] !== undefined && plain[field] !== null) manifest[field] = plain[field];
      break;
    case 'EndpointSlice':
      for (const field of ['addressType', 'endpoints', 'ports']) if (plain[field] !== undefined && plain[field] !== null) manifest[field] = plain[field];
      break;
    default:
      if (plain.spec !== undefined) manifest.spec = plain.spec;
  }
  return stripNulls(manifest) as Record<string, unknown>;
}

/** Typed list items serialise unset optional fields as null; the schemas (like the API server) treat them as absent. */
function stripNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripNulls);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = stripNulls(v);
  return out;
}

export class KubernetesSource implements ConfigSource {
  readonly description: string;
  readonly kubeConfig: KubeConfig;
  /** Writes Canary progress (canary controller) and Accepted conditions; only while leading. */
  readonly statusWriter: StatusWriter;
  readonly #options: KubernetesSourceOptions;
  readonly #logger: Logger;
  readonly #informers: KindInformer[] = [];
  readonly #store = new Map<string, Entry>();
  readonly #lastGood = new Map<string, { object: SourceObject; hash: string }>();
  readonly #desired = new Map<string, { entry: Entry; condition: Condition; verdict: Verdict }>();
  /** Per object: the desired condition last written and the resourceVersion it was written over. */
  readonly #written = new Map<string, { signature: string; overVersion: string | undefined }>();
  readonly #rejectionsLogged = new Set<string>();
  #onLoad?: (load: LoadResult) => void;
  #synced = false;
  #stopped = false;
  #timer?: NodeJS.Timeout;
  #windowStart?: number;
  #draining?: Promise<void>;
  #drainAgain = false;
  #retryTimer?: NodeJS.Timeout;
  #unsubscribeLeader?: () => void;
  #lastResolution?: Resolution;

  constructor(options: KubernetesSourceOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.kubeConfig = loadKubeConfig(options.kubeconfig);
    const server = this.kubeConfig.getCurrentCluster()?.server ?? 'in-cluster';
    this.description = `kubernetes ${server}${options.namespaces?.length ? ` (namespaces ${options.namespaces.join(', ')})` : ''}`;
    const isLeader = () => options.leader?.isLeader() ?? true;
    this.statusWriter = new StatusWriter({ config: this.kubeConfig, logger: this.#logger, isLeader, identity: options.identity ?? process.env.POD_NAME ?? hostname() });
  }

  /** The verdicts of the last load (for the admin API and tests). */
  get lastResolution(): Resolution | undefined {
    return this.#lastResolution;
  }

  async start(onLoad: (load: LoadResult) => void): Promise<void> {
    this.#onLoad = onLoad;
    const namespaces = this.#options.namespaces?.length ? [...new Set(this.#options.namespaces)] : [undefined];
    for (const kind of watchedKinds) {
      if (kind.kind === 'Secret' && !this.#options.tlsSecrets) continue;
      // A cluster-scoped kind other than Namespace is watched once, whatever the namespaces.
      for (const namespace of !kind.namespaced && kind.kind !== 'Namespace' ? [undefined] : namespaces) {
        this.#informers.push(new KindInformer({
          config: this.kubeConfig,
          kind,
          namespace,
          logger: this.#logger,
          backoff: this.#options.backoff,
          absentRetryMs: this.#options.absentKindRetryMs,
          pageSize: this.#options.pageSize,
          onEvent: (event, object) => this.#onEvent(kind, event, object),
        }));
      }
    }
    await Promise.all(this.#informers.map((informer) => informer.start()));
    const timeoutMs = this.#options.syncTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const outcome = await Promise.race([Promise.all(this.#informers.map((i) => i.whenSynced())), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      const failing = this.#informers.filter((i) => !i.synced).map((i) => `${i.description}: ${i.lastError ? describeApiError(i.lastError) : 'no answer'}`);
      await this.stop();
      throw new KubernetesApiError(
        `could not list ${failing.length} resource(s) within ${timeoutMs} ms (are the CRDs in examples/crds applied, and the RBAC in examples/deploy?): ${failing.join('; ')}`,
        { failing },
      );
    }
    this.#synced = true;
    this.#unsubscribeLeader = this.#options.leader?.onStartedLeading(() => this.#scheduleDrain());
    this.#logger.info({ objects: this.#store.size, source: this.description }, 'kubernetes: initial sync complete');
    this.#flush();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#retryTimer);
    this.#unsubscribeLeader?.();
    await Promise.all(this.#informers.map((informer) => informer.stop()));
    await this.#draining;
  }

  #onEvent(kind: WatchedKind, event: InformerEvent, object: KubernetesObject): void {
    const namespace = kind.namespaced ? object.metadata?.namespace ?? 'default' : '';
    const name = object.metadata?.name ?? '';
    const key = objectKey(kind.kind, namespace, name);
    if (event === 'delete') {
      this.#store.delete(key);
    } else {
      const manifest = normalizeObject(kind, object);
      const hash = contentHash(manifest);
      const previous = this.#store.get(key);
      const entry: Entry = { kind, namespace, name, raw: object, manifest, hash };
      // Same content (a status write, a resync): keep the cached check.
      if (previous?.hash === hash) entry.check = previous.check;
      this.#store.set(key, entry);
      // Only a status change of ours: no new load, but the status may need rewriting (someone edited it).
      if (previous?.hash === hash) {
        if (kind.ours && this.#synced) this.#scheduleDrain();
        return;
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#synced || this.#stopped || this.#timer) return;
    this.#windowStart = performance.now();
    // A fixed window from the first event (not a sliding debounce): a steady stream of events can't postpone loads forever.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, this.#options.coalesceMs ?? 75);
  }

  #flush(): void {
    if (this.#stopped || !this.#onLoad) return;
    const started = performance.now();
    const fixed: SourceObject[] = [];
    const owned: OwnedObject[] = [];
    const entries = new Map<string, Entry>();
    for (const [key, entry] of this.#store) {
      // checkManifest freezes and fills in defaults, so it gets its own copy.
      entry.check ??= checkManifest(structuredClone(entry.manifest), originWithoutPositions(`kubernetes ${entry.kind.kind} ${entry.namespace ? `${entry.namespace}/` : ''}${entry.name}`));
      const check = entry.check;
      // Ours and the Gateway API's kinds are resolved per object (a bad one falls back to its last good version).
      if (!entry.kind.ours && !entry.kind.lastGood) {
        if (check.outcome === 'accepted') fixed.push(check.object);
        else if (check.outcome === 'rejected') this.#logRejectedOnce(key, entry, check.issues.map((i) => formatConfigIssue(i)));
        continue;
      }
      entries.set(key, entry);
      owned.push({
        key,
        current: check.outcome === 'accepted' ? check.object : undefined,
        currentIssues: check.outcome === 'rejected' ? check.issues : [],
        currentHash: entry.hash,
        lastGood: this.#lastGood.get(key),
      });
    }
    const resolution = resolveLastGood(fixed, owned, this.#options.checkObjects);
    this.#lastResolution = resolution;
    for (const key of this.#lastGood.keys()) if (!entries.has(key)) this.#lastGood.delete(key);
    for (const item of owned) {
      const verdict = resolution.verdicts.get(item.key)!;
      if (verdict.accepted && item.current) this.#lastGood.set(item.key, { object: item.current, hash: item.currentHash });
    }
    const rejected = [...resolution.verdicts].filter(([, v]) => !v.accepted).length;
    this.#logger.debug({ objects: resolution.objects.length, rejected, evaluations: resolution.evaluations, ms: +(performance.now() - started).toFixed(2), sinceFirstEventMs: this.#windowStart ? +(performance.now() - this.#windowStart).toFixed(2) : undefined }, 'kubernetes: load');
    this.#onLoad({ objects: resolution.objects, ignored: {}, issues: [], files: 0 });

    // Desired status of every owned object.
    this.#desired.clear();
    for (const [key, entry] of entries) {
      const verdict = resolution.verdicts.get(key)!;
      const generation = (entry.manifest.metadata as { generation?: number }).generation;
      const lastGood = this.#lastGood.get(key)?.object.manifest.metadata as { generation?: number } | undefined;
      const condition = acceptedCondition(entry.kind.kind, verdict, generation, lastGood?.generation);
      if (!verdict.accepted) {
        this.#logRejectedOnce(key, entry, [condition.message ?? '']);
      }
      // The Gateway API's kinds get the conditions their API defines (kubernetes-gateway-status.ts), not ours: only the Event.
      if (!entry.kind.ours && verdict.accepted) continue;
      this.#desired.set(key, { entry, condition, verdict });
    }
    for (const key of this.#written.keys()) if (!this.#desired.has(key)) this.#written.delete(key);
    this.#scheduleDrain();
  }

  #logRejectedOnce(key: string, entry: Entry, messages: string[]): void {
    const signature = `${key}|${entry.hash}|${messages.join('|')}`;
    if (this.#rejectionsLogged.has(signature)) return;
    this.#rejectionsLogged.add(signature);
    if (this.#rejectionsLogged.size > 10_000) this.#rejectionsLogged.clear();
    this.#logger.warn({ object: `${entry.kind.kind} ${entry.namespace}/${entry.name}`, problems: messages }, 'kubernetes: object rejected');
  }

  #scheduleDrain(): void {
    if (this.#stopped) return;
    if (this.#draining) {
      this.#drainAgain = true;
      return;
    }
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#drainAgain) {
        this.#drainAgain = false;
        this.#scheduleDrain();
      }
    });
  }

  /** Bring every object's Accepted condition to what the last load decided (leader only). */
  async #drain(): Promise<void> {
    if (this.#options.leader && !this.#options.leader.isLeader()) return;
    let failed = 0;
    for (const [key, { entry, condition, verdict }] of [...this.#desired]) {
      if (this.#stopped) return;
      // The informer's copy may be older than our own last write; don't rewrite over the same version.
      const current = this.#store.get(key)?.raw ?? entry.raw;
      const generation = (entry.manifest.metadata as { generation?: number }).generation;
      const signature = JSON.stringify([condition, generation]);
      const written = this.#written.get(key);
      if (written?.signature === signature && written.overVersion === current.metadata?.resourceVersion) continue;
      try {
        const outcome = entry.kind.ours ? await this.statusWriter.writeAccepted(entry.kind, entry.namespace, entry.name, condition, generation, current as never) : 'unchanged';
        if (outcome === 'not-leader') return;
        if (outcome === 'written') this.#written.set(key, { signature, overVersion: current.metadata?.resourceVersion });
        if (!verdict.accepted && outcome !== 'gone') {
          await this.statusWriter.recordRejection(entry.kind, current as never, condition.reason ?? 'Rejected', condition.message ?? '');
        }
      } catch (error) {
        failed += 1;
        this.#logger.warn({ object: `${entry.kind.kind} ${entry.namespace}/${entry.name}`, err: describeApiError(error) }, 'kubernetes: status write failed');
      }
    }
    if (failed > 0 && !this.#stopped) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#scheduleDrain(), 2_000);
    }
  }
}
