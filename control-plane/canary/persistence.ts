/**
 * Where canary state survives a restart: nowhere (tests, `serve` without
 * --state-dir), a state file (YAML mode), or the Canary's status in Kubernetes.
 */
import type { CanaryPhase } from '../api/types.js';
import type { AcknowledgedCommand, CanaryState } from './state-machine.js';

export interface CanaryPersistence {
  readonly description: string;
  /** The saved state of every canary known to this store (read at start and by followers). */
  loadAll(): Promise<Map<string, CanaryState>>;
  save(namespace: string, name: string, state: CanaryState, generation?: number): Promise<void>;
  /** The Canary is gone: forget it. */
  remove(namespace: string, name: string): Promise<void>;
  /** A transition worth an Event (Kubernetes) — best effort. */
  recordEvent?(namespace: string, name: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export const canaryKey = (namespace: string, name: string) => `${namespace}/${name}`;

export class MemoryPersistence implements CanaryPersistence {
  readonly description = 'memory';
  readonly #states = new Map<string, CanaryState>();

  async loadAll(): Promise<Map<string, CanaryState>> {
    return new Map(this.#states);
  }

  async save(namespace: string, name: string, state: CanaryState): Promise<void> {
    this.#states.set(canaryKey(namespace, name), state);
  }

  async remove(namespace: string, name: string): Promise<void> {
    this.#states.delete(canaryKey(namespace, name));
  }
}

const phases: ReadonlySet<string> = new Set<CanaryPhase>(['Initializing', 'CohortTesting', 'Progressing', 'Promoting', 'Succeeded', 'RollingBack', 'Failed', 'Paused']);

/** A state read back from disk or an API server, or undefined when it does not look like one. */
export function parseState(value: unknown): CanaryState | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.phase !== 'string' || !phases.has(v.phase) || typeof v.canaryVersion !== 'string') return undefined;
  const int = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? Math.trunc(x) : 0);
  const state: CanaryState = {
    phase: v.phase as CanaryPhase,
    canaryWeight: Math.max(0, Math.min(100, int(v.canaryWeight))),
    stepIndex: Math.max(0, int(v.stepIndex)),
    failedChecks: Math.max(0, int(v.failedChecks)),
    canaryVersion: v.canaryVersion,
    lastTransitionTime: typeof v.lastTransitionTime === 'string' ? v.lastTransitionTime : new Date(0).toISOString(),
    message: typeof v.message === 'string' ? v.message : '',
    ...(typeof v.pausedFrom === 'string' && phases.has(v.pausedFrom) ? { pausedFrom: v.pausedFrom as CanaryPhase } : {}),
    ...(parseCommand(v.lastCommand) ? { lastCommand: parseCommand(v.lastCommand)! } : {}),
    ...(parseFinished(v.finished) ? { finished: parseFinished(v.finished)! } : {}),
  };
  return state;
}

function parseCommand(value: unknown): AcknowledgedCommand | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.command !== 'string' || (v.result !== 'Applied' && v.result !== 'Refused')) return undefined;
  const text = (x: unknown) => (typeof x === 'string' ? x : '');
  return { command: v.command, id: text(v.id), result: v.result, message: text(v.message), time: text(v.time) };
}

function parseFinished(value: unknown): CanaryState['finished'] {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  return typeof v.time === 'string' && typeof v.message === 'string' ? { time: v.time, message: v.message } : undefined;
}
