/**
 * Gateway API status write-back: what the model decided about each
 * GatewayClass, Gateway and HTTPRoute this controller owns (Accepted,
 * ResolvedRefs, Programmed; listeners' attached routes), written through the
 * status subresource with the same read-modify-write and leader rules as our
 * own kinds (kubernetes-status.ts).
 *
 * An HTTPRoute's `status.parents` is shared with other controllers: only the
 * entries whose controllerName is ours are replaced, the rest are kept.
 * Conditions keep their lastTransitionTime while their status does not flip,
 * so an unchanged verdict writes nothing.
 */
import type { Logger } from '../log/logger.js';
import { describeApiError, kindByName } from './kubernetes-informers.js';
import { mergeConditions, type Condition, type StatusWriter } from './kubernetes-status.js';

/* The shape the model produces (model/gateway.ts GatewayApiStatus); restated so sources need not import the model. */
interface ConditionInput { readonly type: string; readonly status: 'True' | 'False' | 'Unknown'; readonly reason: string; readonly message: string }
interface ObjectStatus<S> { readonly kind: 'GatewayClass' | 'Gateway' | 'HTTPRoute' | 'GRPCRoute'; readonly namespace: string; readonly name: string; readonly generation?: number; readonly status: S }
export interface GatewayApiStatusInput {
  readonly gatewayClasses: readonly ObjectStatus<{ readonly conditions: readonly ConditionInput[] }>[];
  readonly gateways: readonly ObjectStatus<{ readonly conditions: readonly ConditionInput[]; readonly listeners: readonly { readonly name: string; readonly attachedRoutes: number; readonly supportedKinds: readonly { readonly group: string; readonly kind: string }[]; readonly conditions: readonly ConditionInput[] }[] }>[];
  readonly httpRoutes: readonly RouteStatusInput[];
  readonly grpcRoutes: readonly RouteStatusInput[];
}
type RouteStatusInput = ObjectStatus<{ readonly parents: readonly { readonly parentRef: Record<string, unknown>; readonly controllerName: string; readonly conditions: readonly ConditionInput[] }[] }>;

/** metav1.Time is RFC 3339 to the second. */
const timeNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function conditionsOf(input: readonly ConditionInput[], generation: number | undefined, existing: unknown, now: string): Condition[] {
  const updates = input.map((c) => ({ ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}) }));
  // Only the types this controller sets; others on the object are kept.
  return mergeConditions(Array.isArray(existing) ? (existing as Condition[]) : undefined, updates, now);
}

const sameParent = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  ['group', 'kind', 'namespace', 'name', 'sectionName', 'port'].every((key) => (a[key] ?? '') === (b[key] ?? ''));

export class GatewayStatusWriter {
  /** The last status written per object (its JSON), so a snapshot that changes nothing about it writes nothing. */
  readonly #written = new Map<string, string>();
  #latest?: GatewayApiStatusInput;
  #running?: Promise<void>;
  #again = false;
  #retry?: NodeJS.Timeout;

  constructor(private readonly writer: StatusWriter, private readonly controllerName: string, private readonly logger: Logger) {}

  /** Bring every owned object's status to `status` (latest wins; writes are serialised). */
  write(status: GatewayApiStatusInput | undefined): Promise<void> {
    if (!status) return Promise.resolve();
    this.#latest = status;
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.write(this.#latest);
      }
    });
    return this.#running;
  }

  /** After gaining leadership: write everything again (another replica may have written meanwhile). */
  rewrite(): Promise<void> {
    this.#written.clear();
    return this.write(this.#latest);
  }

  async #drain(): Promise<void> {
    const status = this.#latest!;
    const jobs: Array<{ key: string; signature: string; run: () => Promise<string> }> = [];
    for (const item of status.gatewayClasses) {
      jobs.push({ key: `GatewayClass|${item.name}`, signature: JSON.stringify(item), run: () => this.writer.updateStatus(kindByName.get('GatewayClass')!, '', item.name, (current) => {
        const now = timeNow();
        const next = { ...(current ?? {}), conditions: conditionsOf(item.status.conditions, item.generation, current?.conditions, now) };
        return JSON.stringify(next) === JSON.stringify(current ?? {}) ? undefined : next;
      }) });
    }
    for (const item of status.gateways) {
      jobs.push({ key: `Gateway|${item.namespace}/${item.name}`, signature: JSON.stringify(item), run: () => this.writer.updateStatus(kindByName.get('Gateway')!, item.namespace, item.name, (current) => {
        const now = timeNow();
        const previousListeners = Array.isArray(current?.listeners) ? (current.listeners as Array<{ name: string; conditions?: Condition[] }>) : [];
        const listeners = item.status.listeners.map((l) => ({
          name: l.name,
          attachedRoutes: l.attachedRoutes,
          supportedKinds: l.supportedKinds,
          conditions: conditionsOf(l.conditions, item.generation, previousListeners.find((p) => p.name === l.name)?.conditions, now),
        }));
        const next = { ...(current ?? {}), conditions: conditionsOf(item.status.conditions, item.generation, current?.conditions, now), listeners };
        return JSON.stringify(next) === JSON.stringify(current ?? {}) ? undefined : next;
      }) });
    }
    for (const item of [...status.httpRoutes, ...status.grpcRoutes]) {
      jobs.push({ key: `${item.kind}|${item.namespace}/${item.name}`, signature: JSON.stringify(item), run: () => this.writer.updateStatus(kindByName.get(item.kind)!, item.namespace, item.name, (current) => {
        const now = timeNow();
        const previous = Array.isArray(current?.parents) ? (current.parents as Array<{ parentRef: Record<string, unknown>; controllerName: string; conditions?: Condition[] }>) : [];
        const others = previous.filter((p) => p.controllerName !== this.controllerName);
        const ours = item.status.parents.map((p) => ({
          parentRef: p.parentRef,
          controllerName: p.controllerName,
          conditions: conditionsOf(p.conditions, item.generation, previous.find((q) => q.controllerName === this.controllerName && sameParent(q.parentRef, p.parentRef))?.conditions, now),
        }));
        const next = { ...(current ?? {}), parents: [...others, ...ours] };
        return JSON.stringify(next) === JSON.stringify(current ?? {}) ? undefined : next;
      }) });
    }
    let failed = 0;
    for (const job of jobs) {
      if (this.#written.get(job.key) === job.signature) continue;
      try {
        const outcome = await job.run();
        if (outcome === 'not-leader') return;
        if (outcome === 'written' || outcome === 'unchanged' || outcome === 'gone') this.#written.set(job.key, job.signature);
      } catch (error) {
        failed += 1;
        this.logger.warn({ object: job.key, err: describeApiError(error) }, 'kubernetes: Gateway API status write failed');
      }
    }
    // A failed write is tried again, not left until the next change.
    if (failed > 0) {
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => void this.write(this.#latest), 2_000);
      this.#retry.unref();
    }
  }
}
