/**
 * Leader election over a `coordination.k8s.io/v1` Lease, the way client-go's
 * leaderelection package does it: every replica serves xDS, one holds the
 * Lease and alone writes status and runs canaries.
 *
 * - A candidate takes the Lease when it has no holder, or when its record has
 *   not changed for `leaseDuration` as measured on the candidate's own clock
 *   (so clock skew between nodes does not matter: renewTime is only compared
 *   with itself).
 * - Every write carries the resourceVersion read, so two candidates racing for
 *   an expired Lease cannot both win: the loser gets 409 Conflict.
 * - The leader renews every `retryPeriod`; if it cannot renew for
 *   `renewDeadline` it stops leading (before the Lease can expire for others).
 * - stop() releases the Lease (empty holder) so a successor takes over at once.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { SluiceError } from '../core/errors.js';
import { describeApiError, httpStatusOf, loadKubeConfig } from './kubernetes-informers.js';

export interface LeaderElectorOptions {
  /** Path of a kubeconfig (or a KubeConfig); absent: in-cluster. */
  readonly kubeconfig?: string | KubeConfig;
  /** Lease namespace; default POD_NAMESPACE, the service account's namespace, or sluice-system. */
  readonly namespace?: string;
  readonly name?: string;
  /** This candidate's identity; default POD_NAME or host name, plus a random suffix (a restarted pod is a new candidate). */
  readonly identity?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /**
   * This replica's admin URL, written on the Lease while it leads
   * (annotation sluice.dev/admin-url), so followers can forward canary
   * commands and send their telemetry to the leader.
   */
  readonly advertiseAdminUrl?: string;
  readonly logger: Logger;
}

/** The Lease annotation holding the leader's admin URL. */
export const ADMIN_URL_ANNOTATION = 'sluice.dev/admin-url';

export class LeaderElectionError extends SluiceError {
  constructor(message: string, context: Record<string, unknown>) {
    super('leader-election', message, context);
  }
}

const serviceAccountNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function defaultNamespace(): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(serviceAccountNamespaceFile, 'utf8').trim() || 'sluice-system';
  } catch {
    return 'sluice-system';
  }
}

/** MicroTime: RFC 3339 with exactly six fractional digits, as the API server requires. */
export function microTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

type Listener = () => void;

export class LeaderElector {
  readonly identity: string;
  readonly namespace: string;
  readonly name: string;
  readonly #api: CoordinationV1Api;
  readonly #logger: Logger;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #started = new Set<Listener>();
  readonly #stopped = new Set<Listener>();
  readonly #newLeader = new Set<(identity: string | undefined) => void>();
  #leading = false;
  #running = false;
  #timer?: NodeJS.Timeout;
  #loop?: Promise<void>;
  #wake?: () => void;
  /** The last record seen and when (our clock) it last changed. */
  #observed?: { holder: string; renewTime: string; resourceVersion: string; at: number };
  #lastRenewed = 0;
  #knownLeader?: string;
  #leaderAdminUrl?: string;
  readonly #advertise?: string;

  constructor(options: LeaderElectorOptions) {
    this.#api = loadKubeConfig(options.kubeconfig).makeApiClient(CoordinationV1Api);
    this.#logger = options.logger;
    this.namespace = options.namespace ?? defaultNamespace();
    this.name = options.name ?? 'sluice-leader';
    this.identity = options.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#advertise = options.advertiseAdminUrl;
    if (!(this.#leaseDurationMs > this.#renewDeadlineMs && this.#renewDeadlineMs > this.#retryPeriodMs && this.#retryPeriodMs > 0)) {
      throw new LeaderElectionError('leader election needs leaseDuration > renewDeadline > retryPeriod > 0', { leaseDurationMs: this.#leaseDurationMs, renewDeadlineMs: this.#renewDeadlineMs, retryPeriodMs: this.#retryPeriodMs });
    }
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder last seen on the Lease (undefined: none). */
  get leader(): string | undefined {
    return this.#knownLeader;
  }

  /** The admin URL the current holder advertises on the Lease (undefined: none, or this replica leads). */
  get leaderAdminUrl(): string | undefined {
    return this.#leading ? undefined : this.#leaderAdminUrl;
  }

  onStartedLeading(listener: Listener): () => void {
    this.#started.add(listener);
    return () => this.#started.delete(listener);
  }

  onStoppedLeading(listener: Listener): () => void {
    this.#stopped.add(listener);
    return () => this.#stopped.delete(listener);
  }

  onNewLeader(listener: (identity: string | undefined) => void): () => void {
    this.#newLeader.add(listener);
    return () => this.#newLeader.delete(listener);
  }

  /** Start campaigning; returns at once (leadership is announced through the listeners). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stop campaigning; a leader releases the Lease so another replica takes over without waiting for expiry. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    if (this.#leading) {
      await this.#release();
      this.#setLeading(false);
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        const holding = await this.#tryAcquireOrRenew();
        if (holding) this.#lastRenewed = Date.now();
      } catch (error) {
        this.#logger.warn({ lease: `${this.namespace}/${this.name}`, err: describeApiError(error) }, 'leader election: lease request failed');
      }
      if (this.#leading && Date.now() - this.#lastRenewed > this.#renewDeadlineMs) {
        this.#logger.warn({ lease: `${this.namespace}/${this.name}`, identity: this.identity }, 'leader election: could not renew the lease in time; stepping down');
        this.#setLeading(false);
      }
      if (!this.#running) break;
      // Candidates poll with jitter so they don't hit the API server in step.
      const delay = this.#leading ? this.#retryPeriodMs : this.#retryPeriodMs * (1 + Math.random() * 0.2);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, delay);
      });
    }
  }

  /** True when this candidate holds the Lease after the call. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
      const created = await this.#api.createNamespacedLease({
        namespace: this.namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace: this.namespace, ...this.#annotations(undefined) },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000), acquireTime: microTime(now) as never, renewTime: microTime(now) as never, leaseTransitions: 0 },
        },
      }).catch((createError: unknown) => {
        if (httpStatusOf(createError) === 409) return undefined; // another candidate created it first
        throw createError;
      });
      if (!created) return false;
      this.#observe(created);
      this.#setLeading(true);
      return true;
    }
    this.#observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    if (holder && holder !== this.identity) {
      // Expiry uses the holder's advertised duration and our own clock since the record last changed.
      const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.#leaseDurationMs / 1000)) * 1000;
      if (Date.now() - this.#observed!.at < durationMs) {
        if (this.#leading) this.#setLeading(false);
        return false;
      }
    }
    const takingOver = holder !== this.identity;
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...lease.metadata, name: this.name, namespace: this.namespace, resourceVersion: lease.metadata?.resourceVersion, ...this.#annotations(lease.metadata?.annotations) },
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
        renewTime: microTime(now) as never,
        acquireTime: (takingOver ? microTime(now) : spec.acquireTime ?? microTime(now)) as never,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver ? 1 : 0),
      },
    };
    try {
      const updated = await this.#api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body });
      this.#observe(updated);
    } catch (error) {
      if (httpStatusOf(error) === 409) {
        // Someone else wrote first (renewed or took it); we learn who on the next read.
        if (takingOver) return false;
        this.#logger.debug({ lease: `${this.namespace}/${this.name}` }, 'leader election: renew conflicted');
        return false;
      }
      throw error;
    }
    if (takingOver) this.#logger.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity, previous: holder || null }, 'leader election: acquired the lease');
    this.#setLeading(true);
    return true;
  }

  /** The Lease's annotations with ours: the advertised admin URL, or none (a previous holder's must not stay). */
  #annotations(current: Record<string, string> | undefined): { annotations?: Record<string, string> } {
    const annotations = { ...current };
    delete annotations[ADMIN_URL_ANNOTATION];
    if (this.#advertise) annotations[ADMIN_URL_ANNOTATION] = this.#advertise;
    return Object.keys(annotations).length > 0 || current ? { annotations } : {};
  }

  #observe(lease: V1Lease): void {
    const holder = lease.spec?.holderIdentity ?? '';
    this.#leaderAdminUrl = holder ? lease.metadata?.annotations?.[ADMIN_URL_ANNOTATION] : undefined;
    const renewTime = String(lease.spec?.renewTime ?? '');
    const resourceVersion = lease.metadata?.resourceVersion ?? '';
    const previous = this.#observed;
    if (!previous || previous.holder !== holder || previous.renewTime !== renewTime || previous.resourceVersion !== resourceVersion) {
      this.#observed = { holder, renewTime, resourceVersion, at: Date.now() };
    }
    const known = holder || undefined;
    if (known !== this.#knownLeader) {
      this.#knownLeader = known;
      for (const listener of this.#newLeader) listener(known);
    }
  }

  async #release(): Promise<void> {
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.name, namespace: this.namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime();
      await this.#api.replaceNamespacedLease({
        name: this.name,
        namespace: this.namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now as never, acquireTime: now as never } },
      });
      this.#logger.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity }, 'leader election: released the lease');
    } catch (error) {
      this.#logger.warn({ lease: `${this.namespace}/${this.name}`, err: describeApiError(error) }, 'leader election: could not release the lease; it will expire');
    }
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    for (const listener of leading ? this.#started : this.#stopped) {
      try {
        listener();
      } catch (error) {
        this.#logger.error({ err: error }, 'leader election: listener failed');
      }
    }
  }
}
