/**
 * Holds the current Snapshot. A load that has any problem is rejected as a
 * whole and the last good snapshot keeps being served; the rejection is kept
 * (for /readyz and logs) until a good load clears it.
 *
 * Overlays are how the control plane itself changes the model — the canary
 * controller shifting weights, mesh-wide ejection removing an endpoint —
 * without touching the user's objects or Envoy resources: each overlay maps
 * the user's last good objects to adjusted ones, and the snapshot is rebuilt
 * from the result, so every proxy converges through the normal xDS path.
 */
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { SourceObject } from '../core/source-object.js';
import type { LoadResult } from '../core/config-source.js';
import { buildSnapshot, evaluateLoad } from './build.js';
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

/** Adjusts the user's objects; must return new (frozen) objects rather than mutate. */
export type Overlay = (objects: readonly SourceObject[]) => readonly SourceObject[];

export class SnapshotStore {
  #current?: Snapshot;
  /** The user's configuration as last accepted, before overlays. */
  #base?: Snapshot;
  #baseLoad?: LoadResult;
  #lastError?: ConfigError;
  readonly #listeners = new Set<SnapshotListener>();
  readonly #overlays = new Map<string, Overlay>();

  constructor(private readonly logger: Logger) {}

  get current(): Snapshot | undefined {
    return this.#current;
  }

  /** The snapshot of the user's configuration alone (no canary or ejection adjustments). */
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
    const result = evaluateLoad(load);
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
    this.#baseLoad = load;
    this.#publish();
    return undefined;
  }

  /** Install, replace or (with undefined) remove an overlay, and rebuild. */
  setOverlay(name: string, overlay: Overlay | undefined): readonly ConfigIssue[] {
    if (overlay) this.#overlays.set(name, overlay);
    else this.#overlays.delete(name);
    return this.#publish();
  }

  #publish(): readonly ConfigIssue[] {
    const base = this.#base;
    const load = this.#baseLoad;
    if (!base || !load) return [];
    let snapshot = base;
    if (this.#overlays.size > 0) {
      let objects = load.objects;
      for (const overlay of this.#overlays.values()) objects = overlay(objects);
      const built = buildSnapshot(objects, load.ignored);
      if (!built.ok) {
        // An overlay that breaks the model is a bug of ours: keep serving what we had.
        this.logger.error({ overlays: [...this.#overlays.keys()], issues: built.issues.slice(0, 10) }, 'control-plane adjustment produced an invalid model; keeping the current snapshot');
        return built.issues;
      }
      snapshot = built.snapshot;
    }
    if (snapshot.version === this.#current?.version) return [];
    this.#current = snapshot;
    this.logger.info({ version: snapshot.version, counts: snapshot.counts, overlays: [...this.#overlays.keys()] }, 'new snapshot');
    for (const listener of this.#listeners) listener(snapshot);
    return [];
  }
}
