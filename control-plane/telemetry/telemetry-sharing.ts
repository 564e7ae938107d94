/**
 * Two replicas judge releases (and endpoints, for mesh-wide ejection) on all
 * the traffic. Each replica receives the telemetry of the proxies connected to
 * it; only the leader analyses. So every follower sends its per-version and
 * per-endpoint slots to the leader's admin port
 * (`POST /internal/v1/telemetry`) once per slot, and the leader sums them into
 * its windows (TelemetryStore.importPeer).
 *
 * - Push, not pull: followers find the leader on its Lease (the admin URL it
 *   advertises); the leader needs to know nobody.
 * - Idempotent: a send carries whole slots, which replace that follower's
 *   earlier values, so the slot still filling is sent again next time and a
 *   retry never counts twice. After a leader change the new leader gets the
 *   last `backfillSlots` slots at once.
 * - Authenticated like any state change of the admin API: the follower's own
 *   Kubernetes token, which the leader checks with TokenReview and a
 *   SubjectAccessReview for `update canaries/status` in sluice.dev — what the
 *   control plane's service account may do, so no extra RBAC.
 * - Bounded: a send is split to stay under the admin body limit.
 */
import type { Logger } from '../log/logger.js';
import { DEFAULT_ADMIN_MAX_BODY_BYTES } from '../admin/server.js';
import type { SharedSeries, TelemetryStore } from './telemetry-store.js';

export const TELEMETRY_SHARING_PATH = '/internal/v1/telemetry';
/** The header naming the sending replica (its leader-election identity). */
export const REPLICA_HEADER = 'x-sluice-replica';

export interface TelemetrySharingOptions {
  readonly telemetry: TelemetryStore;
  /** This replica's identity (the Lease candidate's). */
  readonly identity: string;
  readonly isLeader: () => boolean;
  /** The leader's admin URL, from its Lease; undefined while unknown. */
  readonly leaderAdminUrl: () => string | undefined;
  /** `Bearer …` for the leader (this replica's Kubernetes credentials). */
  readonly authorization: () => Promise<string | undefined>;
  readonly logger: Logger;
  /** Default: one slot. */
  readonly intervalMs?: number;
  /** Slots sent to a leader heard of for the first time (default 120). */
  readonly backfillSlots?: number;
}

export class TelemetrySharing {
  #timer?: NodeJS.Timeout;
  #running = false;
  /** The leader sent to last, and the first slot of the next send. */
  #sentTo?: string;
  #nextEpoch = 0;
  #failing?: string;
  sends = 0;

  constructor(private readonly options: TelemetrySharingOptions) {}

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      void this.sendOnce().finally(() => this.#schedule());
    }, this.options.intervalMs ?? this.options.telemetry.slotMs);
    this.#timer.unref?.();
  }

  /** One send to the leader, if this replica follows one; true when the leader took it. */
  async sendOnce(): Promise<boolean> {
    const leader = this.options.isLeader() ? undefined : this.options.leaderAdminUrl();
    if (!leader) {
      this.#sentTo = undefined;
      return false;
    }
    const telemetry = this.options.telemetry;
    const current = telemetry.currentEpoch();
    const from = leader === this.#sentTo ? this.#nextEpoch : current - (this.options.backfillSlots ?? 120) + 1;
    const windows = telemetry.exportSlots(from);
    try {
      for (const body of chunks(telemetry.slotMs, windows.series)) await this.#post(leader, body);
      this.#sentTo = leader;
      // The current slot is still filling: it goes again next time (it replaces, never adds).
      this.#nextEpoch = current;
      this.sends++;
      if (this.#failing) this.options.logger.info({ leader }, 'telemetry sharing: the leader takes this replica\'s windows again');
      this.#failing = undefined;
      return true;
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.#failing) this.options.logger.warn({ leader, err: message }, 'telemetry sharing: cannot send this replica\'s windows to the leader; retrying');
      this.#failing = message;
      return false;
    }
  }

  async #post(leader: string, body: string): Promise<void> {
    const authorization = await this.options.authorization();
    const response = await fetch(new URL(TELEMETRY_SHARING_PATH, leader), {
      method: 'POST',
      headers: { 'content-type': 'application/json', [REPLICA_HEADER]: this.options.identity, ...(authorization ? { authorization } : {}) },
      body,
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) throw new Error(`${leader} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
}

/** JSON bodies under the admin limit, whole series each (a series is a few KB at most). */
function* chunks(slotMs: number, series: readonly SharedSeries[]): Generator<string> {
  const limit = DEFAULT_ADMIN_MAX_BODY_BYTES - 1024;
  let batch: string[] = [];
  let size = 0;
  const body = () => `{"slotMs":${slotMs},"series":[${batch.join(',')}]}`;
  for (const one of series) {
    const text = JSON.stringify(one);
    if (batch.length > 0 && size + text.length > limit) {
      yield body();
      batch = [];
      size = 0;
    }
    batch.push(text);
    size += text.length + 1;
  }
  if (batch.length > 0 || series.length === 0) yield body();
}

/** Read a body sent by another replica; throws naming the first field that is wrong. */
export function parseSharedWindows(text: string): { slotMs: number; series: SharedSeries[] } {
  const value = JSON.parse(text) as unknown;
  const fail = (what: string): never => {
    throw new Error(`telemetry from a replica: ${what}`);
  };
  if (!value || typeof value !== 'object') fail('not an object');
  const { slotMs, series } = value as { slotMs?: unknown; series?: unknown };
  if (typeof slotMs !== 'number' || !(slotMs > 0)) fail('slotMs must be a positive number');
  if (!Array.isArray(series)) fail('series must be a list');
  const count = (x: unknown, field: string) => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : fail(`${field} must be a number ≥ 0`));
  const out: SharedSeries[] = (series as unknown[]).map((item, i) => {
    const s = item as Record<string, unknown>;
    if (s.source !== 'lrs' && s.source !== 'statsSink') fail(`series[${i}].source must be lrs or statsSink`);
    if (typeof s.host !== 'string' || (typeof s.version === 'string') === (typeof s.endpoint === 'string')) fail(`series[${i}] needs host and one of version or endpoint`);
    if (!Array.isArray(s.slots)) fail(`series[${i}].slots must be a list`);
    return {
      source: s.source as 'lrs' | 'statsSink',
      host: s.host as string,
      ...(typeof s.version === 'string' ? { version: s.version } : { endpoint: s.endpoint as string }),
      slots: (s.slots as unknown[]).map((slot, j) => {
        const t = slot as Record<string, unknown>;
        const where = `series[${i}].slots[${j}]`;
        const latency = t.latency === undefined ? undefined : Array.isArray(t.latency) ? t.latency.map((p, k) => (Array.isArray(p) && p.length === 2 ? ([count(p[0], `${where}.latency[${k}][0]`), count(p[1], `${where}.latency[${k}][1]`)] as [number, number]) : fail(`${where}.latency[${k}] must be [bucket, count]`))) : fail(`${where}.latency must be a list`);
        return { epoch: count(t.epoch, `${where}.epoch`), successes: count(t.successes, `${where}.successes`), errors: count(t.errors, `${where}.errors`), ...(latency ? { latency } : {}) };
      }),
    };
  });
  return { slotMs: slotMs as number, series: out };
}
