/**
 * Holds the current Snapshot. A load that has any problem is rejected as a
 * whole and the last good snapshot keeps being served; the rejection is kept
 * (for /readyz and logs) until a good load clears it.
 *
 * Overrides are how the control plane itself changes the model — the canary
 * controller shifting weights, mesh-wide ejection taking an endpoint out —
 * without touching the user's objects or Envoy resources: each owner installs
 * typed IR edits (model/overrides.ts), applied on top of the user's last good
 * snapshot, so every proxy converges through the normal xDS path. The user's
 * snapshot is built once per load; overrides only re-fingerprint the services
 * they change.
 */
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { LoadResult } from '../core/config-source.js';
import { evaluateLoad, type BuildOptions } from './build.js';
import { applyOverrides, type ModelOverride } from './overrides.js';
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

export class SnapshotStore {
  #current?: Snapshot;
  /** The user's configuration as last accepted, before overrides. */
  #base?: Snapshot;
  #lastError?: ConfigError;
  readonly #listeners = new Set<SnapshotListener>();
  /** Per owner ('canary', 'ejection'), in installation order. */
  readonly #overrides = new Map<string, readonly ModelOverride[]>();

  constructor(
    private readonly logger: Logger,
    private readonly buildOptions: BuildOptions = {},
  ) {}

  get current(): Snapshot | undefined {
    return this.#current;
  }

  /** The snapshot of the user's configuration alone (no canary or ejection overrides). */
  get base(): Snapshot | undefined {
    return this.#base;
  }

  /** The problems of the most recent rejected load, until a later load is accepted. */
  get lastError(): ConfigError | undefined {
    return this.#lastError;
  }

  subscribe(listener: SnapshotListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Build from a load; returns the error when rejected. Listeners hear only of new versions. */
  apply(load: LoadResult): ConfigError | undefined {
    const result = evaluateLoad(load, this.buildOptions);
    if (!result.ok) {
      this.#lastError = new ConfigError(result.issues);
      this.logger.error(
        { errors: result.issues.length, issues: result.issues.slice(0, 20), servingVersion: this.#current?.version ?? null },
        this.#current ? 'configuration rejected; still serving the last good snapshot' : 'configuration rejected; no valid snapshot yet',
      );
      return this.#lastError;
    }
    this.#lastError = undefined;
    for (const warning of result.snapshot.warnings) this.logger.warn({ object: warning.object, field: warning.field }, warning.message);
    this.#base = result.snapshot;
    this.#publish();
    return undefined;
  }

  /** The overrides an owner has installed (empty when none). */
  overrides(owner: string): readonly ModelOverride[] {
    return this.#overrides.get(owner) ?? [];
  }

  /**
   * Install, replace or (with undefined or []) remove an owner's overrides.
   * A set that would make the model invalid is refused: the returned issues
   * say why, and the owner's previous set and the current snapshot stay.
   */
  setOverrides(owner: string, overrides: readonly ModelOverride[] | undefined): readonly ConfigIssue[] {
    const previous = this.#overrides.get(owner);
    if (overrides?.length) this.#overrides.set(owner, overrides);
    else this.#overrides.delete(owner);
    if (this.#base && overrides?.length) {
      const checked = applyOverrides(this.#base, overrides);
      if (!checked.ok) {
        if (previous) this.#overrides.set(owner, previous);
        else this.#overrides.delete(owner);
        this.logger.error({ owner, issues: checked.issues.slice(0, 10) }, 'control-plane override refused: it would make the model invalid; keeping the current snapshot');
        return checked.issues;
      }
    }
    this.#publish();
    return [];
  }

  #publish(): void {
    const base = this.#base;
    if (!base) return;
    let snapshot = base;
    const applied: string[] = [];
    for (const [owner, overrides] of this.#overrides) {
      const result = applyOverrides(snapshot, overrides);
      if (!result.ok) {
        // Valid when installed, but the user's new configuration no longer takes it (a version removed…).
        this.logger.error({ owner, issues: result.issues.slice(0, 10) }, 'control-plane override no longer fits the configuration; serving without it');
        continue;
      }
      if (result.snapshot !== snapshot) applied.push(owner);
      snapshot = result.snapshot;
    }
    if (snapshot.version === this.#current?.version) return;
    this.#current = snapshot;
    this.logger.info({ version: snapshot.version, counts: snapshot.counts, overrides: applied }, 'new snapshot');
    for (const listener of this.#listeners) listener(snapshot);
  }
}
