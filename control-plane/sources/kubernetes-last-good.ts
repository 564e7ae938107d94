/**
 * Per-object last-good resolution for the Kubernetes source.
 *
 * In a directory, one bad file rejects the whole load (the author sees the
 * error at once and fixes it). In a cluster, many teams own objects, so one
 * team's bad TrafficPolicy must not freeze everybody else's changes: each of
 * our objects (TrafficPolicy, Canary, WorkloadEntry) that fails its own schema
 * or a cross-object check (the model's, passed in as `checkObjects`) is replaced by its last accepted version (or left
 * out if it never had one), and the rest of the mesh keeps updating.
 */
import type { ConfigIssue } from '../core/errors.js';
import type { CheckObjects } from '../core/config-source.js';
import type { SourceObject } from '../core/source-object.js';

/** One of our objects as it is now in the cluster, and what was last accepted for it. */
export interface OwnedObject {
  readonly key: string;
  /** The current version, when it passed its schema. */
  readonly current?: SourceObject;
  /** The current version's own (schema) problems; empty when `current` is set. */
  readonly currentIssues: readonly ConfigIssue[];
  /** Content hash of the current version (same hash ⇒ same version). */
  readonly currentHash: string;
  readonly lastGood?: { readonly object: SourceObject; readonly hash: string };
}

export type Verdict =
  | { readonly accepted: true }
  | {
      readonly accepted: false;
      readonly issues: readonly ConfigIssue[];
      /** What is served instead: the last accepted version, or nothing. */
      readonly serving: 'last-good' | 'none';
    };

export interface Resolution {
  readonly objects: readonly SourceObject[];
  readonly verdicts: ReadonlyMap<string, Verdict>;
  /** How many times the object set was evaluated (bounded; for logs and tests). */
  readonly evaluations: number;
}

/** Issues about an object's relation to others: the other side may be the one at fault. */
const relational = new Set<ConfigIssue['code']>(['duplicate-object', 'duplicate-policy', 'duplicate-canary', 'unknown-service', 'canary-without-policy', 'canary-version']);

export const objectKey = (kind: string, namespace: string, name: string): string => `${kind}|${namespace}|${name}`;

/**
 * Choose, for each owned object, the version to serve so the whole set passes
 * every cross-object check. `fixed` are the objects that are served as they are
 * (Services, EndpointSlices, Pods, Namespaces: Kubernetes validated them).
 */
export function resolveLastGood(fixed: readonly SourceObject[], owned: readonly OwnedObject[], checkObjects: CheckObjects): Resolution {
  type Served = { object: SourceObject; isCurrent: boolean };
  const served = new Map<string, Served>();
  const rejected = new Map<string, ConfigIssue[]>();
  const byKey = new Map(owned.map((o) => [o.key, o]));
  const reject = (key: string, issues: readonly ConfigIssue[]) => rejected.set(key, [...(rejected.get(key) ?? []), ...issues]);
  const fallBack = (key: string): void => {
    const entry = byKey.get(key)!;
    const lastGood = entry.lastGood;
    // The last good version is only a fallback if it differs from the version just refused.
    if (lastGood && lastGood.hash !== entry.currentHash) served.set(key, { object: lastGood.object, isCurrent: false });
    else served.delete(key);
  };

  for (const entry of owned) {
    if (entry.current) served.set(entry.key, { object: entry.current, isCurrent: true });
    else {
      reject(entry.key, entry.currentIssues);
      fallBack(entry.key);
    }
  }
  // A current version equal to the last good one is not "new": it cannot be blamed for a change in context.
  const isNew = (key: string): boolean => {
    const entry = byKey.get(key)!;
    const s = served.get(key);
    return s !== undefined && s.isCurrent && entry.lastGood?.hash !== entry.currentHash;
  };

  let evaluations = 0;
  const evaluate = (objects: Iterable<Served>) => {
    evaluations += 1;
    return checkObjects({ objects: [...fixed, ...[...objects].map((s) => s.object)], ignored: {}, issues: [] });
  };
  const flaggedKeys = (issues: readonly ConfigIssue[]): Map<string, ConfigIssue[]> => {
    const flagged = new Map<string, ConfigIssue[]>();
    for (const issue of issues) {
      if (!issue.object) continue;
      const key = objectKey(issue.object.kind, issue.object.namespace ?? '', issue.object.name);
      if (!served.has(key)) continue;
      flagged.set(key, [...(flagged.get(key) ?? []), issue]);
    }
    return flagged;
  };

  const limit = owned.length + 2;
  for (let round = 0; round < limit; round++) {
    const result = evaluate(served.values());
    if (result.ok) break;
    const flagged = flaggedKeys(result.issues);
    const blamable = [...flagged.keys()].filter(isNew);
    if (blamable.length > 0) {
      // Common case: the new versions named by the issues are at fault. Those wrong in themselves go
      // first: a policy that is both broken and a duplicate must not take the good one down with it.
      const selfInvalid = blamable.filter((key) => flagged.get(key)!.some((issue) => !relational.has(issue.code)));
      for (const key of selfInvalid.length > 0 ? selfInvalid : blamable) {
        reject(key, flagged.get(key)!);
        fallBack(key);
      }
      continue;
    }
    const pending = [...served.keys()].filter(isNew).sort();
    if (pending.length > 0) {
      // Only unchanged objects are named (a new policy made an old canary invalid, two policies
      // for one service and the old one sorts second…): admit the new versions one at a time.
      admitOneByOne(pending);
      break;
    }
    // Nothing new is served: the context changed (a Service was deleted). Leave out what no longer fits.
    if (flagged.size === 0) {
      // Issues that name none of our objects cannot be fixed here; serve what we have (the store will report them).
      break;
    }
    for (const [key, issues] of flagged) {
      reject(key, issues);
      served.delete(key);
    }
  }

  function admitOneByOne(pending: string[]): void {
    const newVersions = new Map(pending.map((key) => [key, served.get(key)!]));
    for (const key of pending) fallBack(key);
    // Make the base clean by leaving out unchanged objects that no longer fit.
    for (let round = 0; round < limit; round++) {
      const base = evaluate(served.values());
      if (base.ok) break;
      const flagged = flaggedKeys(base.issues);
      if (flagged.size === 0) break;
      for (const [key, issues] of flagged) {
        reject(key, issues);
        served.delete(key);
      }
    }
    for (const key of pending) {
      const previous = served.get(key);
      served.set(key, newVersions.get(key)!);
      const result = evaluate(served.values());
      if (result.ok) continue;
      const own = result.issues.filter((i) => i.object && objectKey(i.object.kind, i.object.namespace ?? '', i.object.name) === key);
      reject(key, own.length > 0 ? own : result.issues);
      if (previous) served.set(key, previous);
      else served.delete(key);
    }
  }

  const verdicts = new Map<string, Verdict>();
  for (const entry of owned) {
    const s = served.get(entry.key);
    if (s?.isCurrent) verdicts.set(entry.key, { accepted: true });
    else verdicts.set(entry.key, { accepted: false, issues: dedupe(rejected.get(entry.key) ?? []), serving: s ? 'last-good' : 'none' });
  }
  return { objects: [...fixed, ...[...served.values()].map((s) => s.object)], verdicts, evaluations };
}

function dedupe(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.code}|${issue.field ?? ''}|${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
