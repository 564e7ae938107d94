/**
 * The canary controller: one analysis loop per Canary in the snapshot. Every
 * interval it checks the canary version's metrics, steps the state machine,
 * persists the state, and changes the model through typed model overrides — never
 * Envoy resources — so every proxy converges through the normal xDS path.
 *
 * Only the active replica (the leader in Kubernetes) analyses and writes.
 * Others follow: each interval they re-read the persisted state and route as
 * it says, so every replica serves the same routes.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CanaryPhase } from '../api/types.js';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { Canary, Snapshot } from '../model/snapshot.js';
import type { SnapshotStore } from '../model/store.js';
import type { PrometheusClient } from '../telemetry/prometheus-query.js';
import type { TelemetryStore } from '../telemetry/telemetry-store.js';
import type { ProxyNack } from '../xds/connections.js';
import { analyse, type AnalysisResult } from './analysis.js';
import { canaryOverrides, type CanaryRouting } from './routing-overrides.js';
import { canaryKey, MemoryPersistence, type CanaryPersistence } from './persistence.js';
import { COMMAND_ANNOTATION, pendingCommand } from './command-annotation.js';
import { allPhases, analysingPhases, initialState, intervalMs, routingFor, step, thresholdOf, type CanaryCommand, type CanaryEvent, type CanaryState, type StepResult } from './state-machine.js';

export class CanaryCommandError extends SluiceError {
  constructor(
    code: 'canary-not-found' | 'canary-command-refused' | 'canary-not-leader',
    message: string,
    readonly httpStatus: number,
    context: Record<string, unknown> = {},
  ) {
    super(code, message, context);
  }
}

export interface CanaryControllerOptions {
  readonly store: SnapshotStore;
  readonly telemetry: TelemetryStore;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly prometheus?: PrometheusClient;
  /** Proxies rejecting configuration right now: a canary whose routes are NACKed fails naming them. */
  readonly proxyNacks?: () => readonly ProxyNack[];
  readonly persistence?: CanaryPersistence;
  /** This replica runs analyses (default: always). */
  readonly isActive?: () => boolean;
  readonly now?: () => Date;
  /** Carries out `spec.finish` after success (Kubernetes mode); without it such canaries only log that it is not done. */
  readonly finisher?: CanaryFinisher;
}

/** What `spec.finish` does once a canary succeeded: point the policy at the new version, scale the old one down. */
export interface CanaryFinisher {
  /** Returns what was done, for the Finished condition; throws (typed) when it could not be done yet. */
  finish(canary: Canary, policy: { readonly namespace: string; readonly name: string } | undefined): Promise<string>;
}

interface Entry {
  canary: Canary;
  state: CanaryState;
  timer?: NodeJS.Timeout;
  intervalMs: number;
  lastAnalysis?: AnalysisResult;
  /** An analysis or save in flight: ticks never overlap. */
  busy: boolean;
  /** A spec.finish in flight, and the last failure reported (reported once). */
  finishing?: boolean;
  finishProblem?: string;
}

/** A canary as the admin API and `sluice canary status` show it: its spec's essentials and its state. */
export interface CanaryView extends CanaryState {
  readonly namespace: string;
  readonly name: string;
  readonly service: string;
  readonly stable: string;
  readonly canary: string;
  readonly steps: readonly number[];
  readonly interval: string;
  readonly threshold: number;
  readonly lastAnalysis?: AnalysisResult;
}

const phaseValue = (phase: CanaryPhase) => allPhases.indexOf(phase);

export class CanaryController {
  readonly #entries = new Map<string, Entry>();
  readonly #persistence: CanaryPersistence;
  readonly #logger: Logger;
  readonly #now: () => Date;
  #routingSignature = '';
  #unsubscribe?: () => void;
  #stopped = false;
  #reconcileQueued = false;
  /** Persisted states not yet matched to a Canary of the snapshot (read once at start). */
  #saved = new Map<string, CanaryState>();
  readonly #weight: Gauge;
  readonly #phase: Gauge;
  readonly #phaseCode: Gauge;
  readonly #failedChecks: Gauge;
  readonly #checks: Counter;
  readonly #transitions: Counter;

  constructor(private readonly options: CanaryControllerOptions) {
    this.#persistence = options.persistence ?? new MemoryPersistence();
    this.#logger = options.logger;
    this.#now = options.now ?? (() => new Date());
    const registers = [options.registry];
    const labelNames = ['namespace', 'name'] as const;
    this.#weight = new Gauge({ name: 'sluice_canary_weight', help: 'Percent of traffic on the canary version.', labelNames, registers });
    this.#phase = new Gauge({ name: 'sluice_canary_phase', help: 'The canary phase: 1 for the current phase label, 0 for the others.', labelNames: [...labelNames, 'phase'], registers });
    this.#phaseCode = new Gauge({ name: 'sluice_canary_status', help: `The canary phase as a number (${allPhases.map((p, i) => `${i}=${p}`).join(', ')}).`, labelNames, registers });
    this.#failedChecks = new Gauge({ name: 'sluice_canary_failed_checks', help: 'Failed checks in the current analysis.', labelNames, registers });
    this.#checks = new Counter({ name: 'sluice_canary_checks_total', help: 'Interval checks by result (passed, failed, no-data).', labelNames: [...labelNames, 'result'], registers });
    this.#transitions = new Counter({ name: 'sluice_canary_transitions_total', help: 'Phase transitions.', labelNames: [...labelNames, 'from', 'to'], registers });
  }

  get persistence(): CanaryPersistence {
    return this.#persistence;
  }

  #active(): boolean {
    return this.options.isActive?.() ?? true;
  }

  /** Read persisted state, install the routing overrides, follow snapshots. */
  async start(): Promise<void> {
    this.#saved = await this.#persistence.loadAll();
    this.#unsubscribe = this.options.store.subscribe(() => this.#queueReconcile());
    await this.#reconcile(this.options.store.current);
    this.#routingSignature = JSON.stringify([...this.#routings()]);
    this.options.store.setOverrides('canary', canaryOverrides(this.#routings()));
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
  }

  *#routings(): Iterable<CanaryRouting> {
    for (const entry of this.#entries.values()) yield { namespace: entry.canary.namespace, spec: entry.canary.spec, routing: routingFor(entry.canary.spec, entry.state) };
  }

  /** Rebuild the snapshot when some canary's routing changed. */
  #refreshRouting(): void {
    const signature = JSON.stringify([...this.#routings()]);
    if (signature === this.#routingSignature) return;
    this.#routingSignature = signature;
    const issues = this.options.store.setOverrides('canary', canaryOverrides(this.#routings()));
    if (issues.length) this.#logger.error({ issues: issues.slice(0, 5) }, 'canary routing refused by the model');
  }

  #queueReconcile(): void {
    // Snapshot listeners run inside setOverrides: never re-enter it synchronously.
    if (this.#reconcileQueued || this.#stopped) return;
    this.#reconcileQueued = true;
    queueMicrotask(() => {
      this.#reconcileQueued = false;
      void this.#reconcile(this.options.store.current).catch((error: unknown) => this.#logger.error({ err: error }, 'canary reconcile failed'));
    });
  }

  async #reconcile(snapshot: Snapshot | undefined): Promise<void> {
    if (!snapshot || this.#stopped) return;
    const seen = new Set<string>();
    for (const canary of snapshot.canaries) {
      const key = canaryKey(canary.namespace, canary.name);
      seen.add(key);
      const entry = this.#entries.get(key);
      if (entry) {
        entry.canary = canary;
        if (entry.state.canaryVersion !== canary.spec.canary) {
          this.#logger.info({ canary: key, previous: entry.state.canaryVersion, version: canary.spec.canary }, 'new canary version: analysis restarts');
          // The acknowledged command stays, so an annotation left on the Canary does not act again on the new version.
          const fresh = { ...initialState(canary.spec, this.#now()), ...(entry.state.lastCommand ? { lastCommand: entry.state.lastCommand } : {}) };
          this.#apply(key, entry, { state: fresh, transition: { from: entry.state.phase, to: 'Initializing', reason: `new canary version ${canary.spec.canary}` } });
        }
        this.#actOnAnnotation(key, entry);
        const interval = intervalMs(canary.spec);
        if (interval !== entry.intervalMs) {
          entry.intervalMs = interval;
          this.#schedule(key, entry);
        }
        continue;
      }
      const previous = this.#saved.get(key);
      this.#saved.delete(key);
      const resumed = previous && previous.canaryVersion === canary.spec.canary;
      const state = resumed ? previous : initialState(canary.spec, this.#now());
      const created: Entry = { canary, state, intervalMs: intervalMs(canary.spec), busy: false };
      this.#entries.set(key, created);
      this.#updateMetrics(key, created);
      if (resumed) {
        this.#logger.info({ canary: key, phase: state.phase, canaryWeight: state.canaryWeight, stepIndex: state.stepIndex, failedChecks: state.failedChecks, from: this.#persistence.description }, 'canary resumed');
      } else {
        this.#logger.info({ canary: key, phase: state.phase, service: canary.spec.service, stable: canary.spec.stable, version: canary.spec.canary, steps: canary.spec.steps }, 'canary analysis starting');
        if (this.#active()) void this.#save(key, created);
      }
      this.#actOnAnnotation(key, created);
      this.#schedule(key, created);
    }
    for (const [key, entry] of this.#entries) {
      if (seen.has(key)) continue;
      clearTimeout(entry.timer);
      this.#entries.delete(key);
      this.#clearMetrics(entry);
      this.#logger.info({ canary: key, phase: entry.state.phase }, 'canary removed: the policy\'s own routes apply again');
      if (this.#active()) void this.#persistence.remove(entry.canary.namespace, entry.canary.name).catch((error: unknown) => this.#logger.warn({ canary: key, err: error }, 'could not forget canary state'));
    }
    this.#refreshRouting();
  }

  #schedule(key: string, entry: Entry): void {
    clearTimeout(entry.timer);
    if (this.#stopped) return;
    entry.timer = setTimeout(() => {
      void this.#tick(key, entry)
        .catch((error: unknown) => this.#logger.error({ canary: key, err: error }, 'canary tick failed'))
        .finally(() => {
          if (this.#entries.get(key) === entry) this.#schedule(key, entry);
        });
    }, entry.intervalMs);
    entry.timer.unref?.();
  }

  async #tick(key: string, entry: Entry): Promise<void> {
    if (entry.busy || this.#stopped) return;
    entry.busy = true;
    try {
      if (!this.#active()) {
        await this.#follow(key, entry);
        return;
      }
      this.#actOnAnnotation(key, entry);
      await this.#finish(key, entry);
      let event: CanaryEvent = { type: 'tick' };
      if (analysingPhases.has(entry.state.phase)) {
        const analysis = await analyse(entry.canary, entry.intervalMs, { telemetry: this.options.telemetry, prometheus: this.options.prometheus, nacks: this.options.proxyNacks }, this.#now());
        entry.lastAnalysis = analysis;
        // The state may have moved (a command) while the analysis awaited Prometheus.
        if (!analysingPhases.has(entry.state.phase) || this.#entries.get(key) !== entry) return;
        event = { type: 'tick', verdict: analysis.verdict };
      }
      const result = step(entry.canary.spec, entry.state, event, this.#now());
      if (result.check) {
        this.#checks.inc({ namespace: entry.canary.namespace, name: entry.canary.name, result: result.check });
        const level = result.check === 'passed' ? 'debug' : 'warn';
        this.#logger[level]({ canary: key, phase: entry.state.phase, result: result.check, failedChecks: result.state.failedChecks, threshold: thresholdOf(entry.canary.spec), metrics: entry.lastAnalysis?.results }, `canary check ${result.check}`);
      }
      if (result.state !== entry.state) this.#apply(key, entry, result);
    } finally {
      entry.busy = false;
    }
  }

  /** Not the active replica: route as the persisted state says. */
  async #follow(key: string, entry: Entry): Promise<void> {
    const saved = (await this.#persistence.loadAll()).get(key);
    if (!saved || saved.canaryVersion !== entry.canary.spec.canary || JSON.stringify(saved) === JSON.stringify(entry.state)) return;
    entry.state = saved;
    this.#updateMetrics(key, entry);
    this.#refreshRouting();
  }

  #apply(key: string, entry: Entry, result: StepResult): void {
    const previous = entry.state;
    // The state machine knows nothing of commands by annotation or of finishing: those facts ride along.
    const sameVersion = previous.canaryVersion === result.state.canaryVersion;
    entry.state = {
      ...result.state,
      ...(result.state.lastCommand ?? previous.lastCommand ? { lastCommand: result.state.lastCommand ?? previous.lastCommand } : {}),
      ...(sameVersion && (result.state.finished ?? previous.finished) ? { finished: result.state.finished ?? previous.finished } : {}),
    };
    this.#updateMetrics(key, entry);
    const { namespace, name } = entry.canary;
    if (result.transition) {
      const { from, to, reason } = result.transition;
      this.#transitions.inc({ namespace, name, from, to });
      const bad = to === 'RollingBack' || to === 'Failed';
      this.#logger[bad ? 'warn' : 'info'](
        { canary: key, service: entry.canary.spec.service, from, to, canaryWeight: result.state.canaryWeight, previousWeight: previous.canaryWeight, stepIndex: result.state.stepIndex, failedChecks: result.state.failedChecks, version: entry.canary.spec.canary },
        `canary ${from} → ${to}: ${reason}`,
      );
      void this.#persistence.recordEvent?.(namespace, name, bad ? 'Warning' : 'Normal', to, reason);
    }
    void this.#save(key, entry);
    this.#refreshRouting();
    if (entry.state.phase === 'Succeeded' && previous.phase !== 'Succeeded') void this.#finish(key, entry);
  }

  /** A `sluice.dev/command` annotation not yet acknowledged: act on it (leader only) and acknowledge it in the state. */
  #actOnAnnotation(key: string, entry: Entry): void {
    if (!this.#active()) return;
    const pending = pendingCommand(entry.canary, entry.state.lastCommand);
    if (!pending) return;
    const time = this.#now().toISOString();
    const { namespace, name } = entry.canary;
    const result = pending.command ? step(entry.canary.spec, entry.state, { type: pending.command }, this.#now()) : undefined;
    const refusal = !pending.command ? `"${pending.given}" is not a command (promote, abort, pause, resume)` : result?.refused;
    const lastCommand = { command: pending.given, id: pending.id, result: refusal ? ('Refused' as const) : ('Applied' as const), message: refusal ?? (result?.transition?.reason ?? 'applied'), time };
    this.#logger[refusal ? 'warn' : 'info']({ canary: key, annotation: COMMAND_ANNOTATION, command: pending.given, id: pending.id, result: lastCommand.result, message: lastCommand.message }, `canary command by annotation ${lastCommand.result.toLowerCase()}`);
    void this.#persistence.recordEvent?.(namespace, name, refusal ? 'Warning' : 'Normal', refusal ? 'CommandRefused' : 'CommandApplied', `${pending.given}${pending.id ? ` (id ${pending.id})` : ''}: ${lastCommand.message}`);
    if (refusal || !result) this.#apply(key, entry, { state: { ...entry.state, lastCommand } });
    else this.#apply(key, entry, { ...result, state: { ...result.state, lastCommand } });
  }

  /** spec.finish, once, after success (leader only); a failure is reported once and tried again next interval. */
  async #finish(key: string, entry: Entry): Promise<void> {
    const spec = entry.canary.spec;
    if (!spec.finish || entry.state.phase !== 'Succeeded' || entry.state.finished || entry.finishing || !this.#active()) return;
    if (!this.options.finisher) {
      if (entry.finishProblem === undefined) this.#logger.warn({ canary: key }, 'spec.finish is carried out in Kubernetes mode only: update the TrafficPolicy and scale the old version down yourself');
      entry.finishProblem = 'no finisher';
      return;
    }
    const { namespace, name } = entry.canary;
    const policy = this.options.store.current?.trafficPolicies.find((p) => p.namespace === namespace && p.spec.service === spec.service);
    entry.finishing = true;
    try {
      const message = await this.options.finisher.finish(entry.canary, policy ? { namespace: policy.namespace, name: policy.name } : undefined);
      if (this.#entries.get(key) !== entry || entry.state.phase !== 'Succeeded') return;
      entry.finishProblem = undefined;
      this.#logger.info({ canary: key, message }, 'canary finished');
      void this.#persistence.recordEvent?.(namespace, name, 'Normal', 'Finished', message);
      this.#apply(key, entry, { state: { ...entry.state, finished: { time: this.#now().toISOString(), message } } });
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      if (problem !== entry.finishProblem) {
        this.#logger.error({ canary: key, err: error }, 'canary could not be finished; trying again next interval');
        void this.#persistence.recordEvent?.(namespace, name, 'Warning', 'FinishFailed', problem);
      }
      entry.finishProblem = problem;
    } finally {
      entry.finishing = false;
    }
  }

  async #save(key: string, entry: Entry): Promise<void> {
    try {
      await this.#persistence.save(entry.canary.namespace, entry.canary.name, entry.state, entry.canary.generation);
    } catch (error) {
      this.#logger.error({ canary: key, err: error, store: this.#persistence.description }, 'could not persist canary state');
    }
  }

  #updateMetrics(_key: string, entry: Entry): void {
    const labels = { namespace: entry.canary.namespace, name: entry.canary.name };
    this.#weight.set(labels, entry.state.canaryWeight);
    this.#failedChecks.set(labels, entry.state.failedChecks);
    this.#phaseCode.set(labels, phaseValue(entry.state.phase));
    for (const phase of allPhases) this.#phase.set({ ...labels, phase }, phase === entry.state.phase ? 1 : 0);
  }

  #clearMetrics(entry: Entry): void {
    const labels = { namespace: entry.canary.namespace, name: entry.canary.name };
    this.#weight.remove(labels);
    this.#failedChecks.remove(labels);
    this.#phaseCode.remove(labels);
    for (const phase of allPhases) this.#phase.remove({ ...labels, phase });
  }

  /** An operator's command (admin API / `sluice canary`). */
  async command(namespace: string, name: string, command: CanaryCommand): Promise<CanaryView> {
    const key = canaryKey(namespace, name);
    const entry = this.#entries.get(key);
    if (!entry) throw new CanaryCommandError('canary-not-found', `no Canary ${key} is being served`, 404, { canary: key });
    if (!this.#active()) throw new CanaryCommandError('canary-not-leader', 'this replica is not the leader; send the command to the leader', 503, { canary: key });
    const result = step(entry.canary.spec, entry.state, { type: command }, this.#now());
    if (result.refused) throw new CanaryCommandError('canary-command-refused', result.refused, 409, { canary: key, command, phase: entry.state.phase });
    this.#apply(key, entry, result);
    await this.#save(key, entry);
    return this.#view(entry);
  }

  #view(entry: Entry): CanaryView {
    const spec = entry.canary.spec;
    return {
      namespace: entry.canary.namespace,
      name: entry.canary.name,
      service: spec.service,
      stable: spec.stable,
      canary: spec.canary,
      steps: spec.steps,
      interval: spec.interval ?? '1m',
      threshold: thresholdOf(spec),
      ...entry.state,
      ...(entry.lastAnalysis ? { lastAnalysis: entry.lastAnalysis } : {}),
    };
  }

  list(): CanaryView[] {
    return [...this.#entries.values()].map((entry) => this.#view(entry));
  }

  get(namespace: string, name: string): CanaryView | undefined {
    const entry = this.#entries.get(canaryKey(namespace, name));
    return entry ? this.#view(entry) : undefined;
  }
}
