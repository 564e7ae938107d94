/**
 * Holds the current Snapshot. A load that has any problem is rejected as a
 * whole and the last good snapshot keeps being served; the rejection is kept
 * (for /readyz and logs) until a good load clears it.
 */
import { ConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { LoadResult } from '../sources/yaml-directory.js';
import { evaluateLoad } from './build.js';
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

export class SnapshotStore {
  #current?: Snapshot;
  #lastError?: ConfigError;
  readonly #listeners = new Set<SnapshotListener>();

  constructor(private readonly logger: Logger) {}

  get current(): Snapshot | undefined {
    return this.#current;
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
    const snapshot = result.snapshot;
    for (const warning of snapshot.warnings) this.logger.warn({ object: warning.object, field: warning.field }, warning.message);
    if (snapshot.version === this.#current?.version) return undefined;
    this.#current = snapshot;
    this.logger.info({ version: snapshot.version, counts: snapshot.counts }, 'new snapshot');
    for (const listener of this.#listeners) listener(snapshot);
    return undefined;
  }
}
