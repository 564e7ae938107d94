/**
 * The contract between sources and the model: a source hands over the full
 * object set it read (never a partial update), and the model decides whether
 * it becomes the served snapshot.
 */
import type { ConfigIssue } from './errors.js';
import type { SourceObject } from './source-object.js';

export interface LoadResult {
  readonly objects: readonly SourceObject[];
  /** Objects of kinds Sluice does not read, by kind. */
  readonly ignored: Readonly<Record<string, number>>;
  /** Problems found while reading and checking each object on its own. */
  readonly issues: readonly ConfigIssue[];
  readonly files: number;
}

/** A source of configuration: calls `onLoad` with the full object set at start and after every change. */
export interface ConfigSource {
  readonly description: string;
  start(onLoad: (load: LoadResult) => void): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The model's verdict on an object set (every cross-object check). Sources
 * that keep per-object last-good versions (Kubernetes) are given it, so they
 * never import the model.
 */
export type CheckObjects = (load: Pick<LoadResult, 'objects' | 'ignored' | 'issues'>) => { readonly ok: true } | { readonly ok: false; readonly issues: readonly ConfigIssue[] };
