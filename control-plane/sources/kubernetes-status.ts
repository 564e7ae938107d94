/**
 * Status write-back: the `Accepted` condition of our objects, Kubernetes
 * Events for rejections, and the Canary controller's progress — all through
 * the status subresource, and only while this replica leads.
 *
 * Every write is read-modify-write with the object's resourceVersion in a
 * merge patch, so a concurrent writer (the canary controller, an operator's
 * `kubectl edit --subresource=status`) is never overwritten blindly: the API
 * server answers 409 Conflict and the write is redone on the fresh object.
 */
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { formatConfigIssue, type ConfigIssue } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { CanaryStatus } from '../api/types.js';
import { describeApiError, httpStatusOf, KubernetesApiError, kindByName, type WatchedKind } from './kubernetes-informers.js';
import type { Verdict } from './kubernetes-last-good.js';
import { EventRecorder } from './kubernetes-events.js';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

interface StatusBody {
  observedGeneration?: number;
  conditions?: Condition[];
  [field: string]: unknown;
}

interface CustomObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number };
  status?: StatusBody;
}

/** Kubernetes caps condition messages at 32 KiB; a screenful is what anyone reads. */
const maxMessage = 1024;

/** `weights-sum` → `WeightsSum`: condition and Event reasons are CamelCase by convention. */
export function reasonFor(issues: readonly ConfigIssue[]): string {
  const code = issues[0]?.code ?? 'invalid';
  if (code === 'schema') return 'InvalidSpec';
  return code.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
}

/** The message of an Accepted=False condition: each problem with its field, then what is served instead. */
export function rejectionMessage(issues: readonly ConfigIssue[], serving: 'last-good' | 'none', lastGoodGeneration?: number): string {
  const problems = issues.map((issue) => formatConfigIssue({ ...issue, object: undefined, location: undefined })).join('; ') || 'rejected';
  const fallback = serving === 'last-good'
    ? `still serving the last accepted version${lastGoodGeneration !== undefined ? ` (generation ${lastGoodGeneration})` : ''}`
    : 'not served: no version of this object has been accepted';
  const text = `${problems}; ${fallback}`;
  return text.length > maxMessage ? `${text.slice(0, maxMessage - 1)}…` : text;
}

/** The Accepted condition a verdict asks for. */
export function acceptedCondition(kind: string, verdict: Verdict, generation: number | undefined, lastGoodGeneration?: number): Condition {
  const condition: Condition = verdict.accepted
    ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: `the ${kind} is valid and served` }
    : { type: 'Accepted', status: 'False', reason: reasonFor(verdict.issues), message: rejectionMessage(verdict.issues, verdict.serving, lastGoodGeneration) };
  // Canary conditions have no observedGeneration in the CRD schema (it would be pruned).
  if (kind !== 'Canary' && generation !== undefined) condition.observedGeneration = generation;
  return condition;
}

/** Replace or add a condition by type; lastTransitionTime moves only when the status flips. */
export function mergeConditions(existing: readonly Condition[] | undefined, updates: readonly Condition[], now: string): Condition[] {
  const result = [...(existing ?? [])];
  for (const update of updates) {
    const index = result.findIndex((c) => c.type === update.type);
    const previous = index >= 0 ? result[index] : undefined;
    const lastTransitionTime = update.lastTransitionTime ?? (previous && previous.status === update.status && previous.lastTransitionTime ? previous.lastTransitionTime : now);
    const merged = { ...update, lastTransitionTime };
    if (index >= 0) result[index] = merged;
    else result.push(merged);
  }
  return result;
}

/** metav1.Time is RFC 3339 to the second. */
const timeNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

const sameCondition = (a: Condition | undefined, b: Condition): boolean =>
  a !== undefined && a.status === b.status && a.reason === b.reason && a.message === b.message && a.observedGeneration === b.observedGeneration;

export interface StatusWriterOptions {
  readonly config: KubeConfig;
  readonly logger: Logger;
  /** Writes happen only while this is true (leader election). */
  readonly isLeader: () => boolean;
  /** Event `reportingInstance` (the pod name). */
  readonly identity: string;
  /** Retries of a write that met 409 Conflict. */
  readonly conflictRetries?: number;
}

export type WriteOutcome = 'written' | 'unchanged' | 'not-leader' | 'gone';

export class StatusWriteError extends KubernetesApiError {}

export class StatusWriter {
  readonly #custom: CustomObjectsApi;
  /** The one Event recorder of this process's Kubernetes writers (the canary controller uses it too). */
  readonly events: EventRecorder;
  readonly #mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  /** Events already recorded: uid/generation/reason/message. One Event per rejected version, not per evaluation. */
  readonly #eventsSent = new Set<string>();
  /** Serialises writes to one object so two updates never race each other into a 409 loop. */
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(private readonly options: StatusWriterOptions) {
    this.#custom = options.config.makeApiClient(CustomObjectsApi);
    this.events = new EventRecorder(options);
  }

  /**
   * Progress of a Canary (phase, weight, failed checks…) for the canary
   * controller. Conditions are merged by type, so the Accepted condition this
   * source writes survives; other fields given replace the stored ones.
   */
  async writeCanaryStatus(namespace: string, name: string, status: CanaryStatus): Promise<WriteOutcome> {
    return this.updateStatus(kindByName.get('Canary')!, namespace, name, (current) => {
      const now = timeNow();
      const { conditions, ...fields } = status;
      const next: StatusBody = { ...(current ?? {}), ...fields };
      if (conditions) next.conditions = mergeConditions(current?.conditions, conditions as Condition[], now);
      return JSON.stringify(next) === JSON.stringify(current ?? {}) ? undefined : next;
    });
  }

  /** Set the Accepted condition and observedGeneration; no write when they already say the same. */
  async writeAccepted(kind: WatchedKind, namespace: string, name: string, condition: Condition, generation: number | undefined, cached?: CustomObject): Promise<WriteOutcome> {
    return this.updateStatus(kind, namespace, name, (current) => {
      const existing = current?.conditions?.find((c) => c.type === 'Accepted');
      // observedGeneration says which spec the status describes; it only moves with an accepted version.
      const observedGeneration = condition.status === 'True' ? generation : current?.observedGeneration;
      if (sameCondition(existing, condition) && current?.observedGeneration === observedGeneration) return undefined;
      const next: StatusBody = { ...(current ?? {}), conditions: mergeConditions(current?.conditions, [condition], timeNow()) };
      if (observedGeneration !== undefined) next.observedGeneration = observedGeneration;
      return next;
    }, cached);
  }

  /** A Warning Event on the object, once per (object version, reason, message). */
  async recordRejection(kind: WatchedKind, object: CustomObject, reason: string, message: string): Promise<WriteOutcome> {
    if (!this.options.isLeader()) return 'not-leader';
    const meta = object.metadata ?? {};
    const key = `${meta.uid}|${meta.generation}|${reason}|${message}`;
    if (this.#eventsSent.has(key)) return 'unchanged';
    const written = await this.events.record(
      { apiVersion: kind.apiVersion, kind: kind.kind, namespace: meta.namespace ?? 'default', name: meta.name ?? '', uid: meta.uid, resourceVersion: meta.resourceVersion },
      { type: 'Warning', reason, message, action: 'Validate' },
    );
    if (!written) return 'unchanged';
    this.#eventsSent.add(key);
    return 'written';
  }

  /**
   * Read-modify-write of `.status` through the status subresource. `mutate`
   * returns the new status, or undefined when nothing needs writing. On 409
   * Conflict the object is read again and `mutate` re-applied.
   */
  async updateStatus(kind: WatchedKind, namespace: string, name: string, mutate: (status: StatusBody | undefined) => StatusBody | undefined, cached?: CustomObject): Promise<WriteOutcome> {
    const chainKey = `${kind.kind}|${namespace}|${name}`;
    const previous = this.#chains.get(chainKey) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.#update(kind, namespace, name, mutate, cached));
    this.#chains.set(chainKey, run);
    try {
      return await run;
    } finally {
      if (this.#chains.get(chainKey) === run) this.#chains.delete(chainKey);
    }
  }

  async #update(kind: WatchedKind, namespace: string, name: string, mutate: (status: StatusBody | undefined) => StatusBody | undefined, cached?: CustomObject): Promise<WriteOutcome> {
    const ref = { group: kind.group, version: kind.version, plural: kind.plural, namespace, name };
    const attempts = (this.options.conflictRetries ?? 5) + 1;
    let object = cached;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!this.options.isLeader()) return 'not-leader';
      try {
        // Cluster-scoped kinds (GatewayClass) have no namespace in their path.
        object ??= (await (kind.namespaced ? this.#custom.getNamespacedCustomObjectStatus(ref) : this.#custom.getClusterCustomObjectStatus(ref))) as CustomObject;
      } catch (error) {
        if (httpStatusOf(error) === 404) return 'gone';
        throw new StatusWriteError(`reading ${kind.kind} ${namespace}/${name} failed: ${describeApiError(error)}`, { kind: kind.kind, namespace, name }, { cause: error });
      }
      const next = mutate(object.status);
      if (next === undefined) return 'unchanged';
      try {
        const body = { metadata: { resourceVersion: object.metadata?.resourceVersion }, status: next };
        await (kind.namespaced ? this.#custom.patchNamespacedCustomObjectStatus({ ...ref, body }, this.#mergePatch) : this.#custom.patchClusterCustomObjectStatus({ ...ref, body }, this.#mergePatch));
        this.options.logger.debug({ object: `${kind.kind} ${namespace}/${name}`, status: next }, 'status written');
        return 'written';
      } catch (error) {
        const status = httpStatusOf(error);
        if (status === 404) return 'gone';
        if (status !== 409) {
          throw new StatusWriteError(`writing the status of ${kind.kind} ${namespace}/${name} failed: ${describeApiError(error)}`, { kind: kind.kind, namespace, name, status }, { cause: error });
        }
        this.options.logger.debug({ object: `${kind.kind} ${namespace}/${name}`, attempt }, 'status write conflicted; re-reading');
        object = undefined;
      }
    }
    throw new StatusWriteError(`writing the status of ${kind.kind} ${namespace}/${name} kept conflicting (${attempts} attempts)`, { kind: kind.kind, namespace, name });
  }
}

