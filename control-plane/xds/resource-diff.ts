/**
 * What changed between two encoded resource maps (one snapshot's view and the
 * next): names added or whose version differs, and names gone. Computed once
 * per pair of maps and shared: the delta streams of a namespace move between
 * the same maps, so 5,000 streams cost one diff per namespace, not 5,000 scans
 * of every resource. Layered maps (a scope's inbound layer over its
 * namespace's) are diffed layer by layer.
 */
import { LayeredMap } from '../lib/layered-map.js';

export interface VersionedResource {
  readonly version: string;
}

export interface ResourceDiff {
  /** In the new map, absent from the old one or at another version. */
  readonly changed: readonly string[];
  /** In the old map, absent from the new one. */
  readonly removed: readonly string[];
}

type ResourceMap = ReadonlyMap<string, VersionedResource>;

const diffs = new WeakMap<ResourceMap, WeakMap<ResourceMap, ResourceDiff>>();

export function resourceDiff(before: ResourceMap, after: ResourceMap): ResourceDiff {
  let byAfter = diffs.get(before);
  if (!byAfter) diffs.set(before, (byAfter = new WeakMap()));
  let diff = byAfter.get(after);
  if (!diff) byAfter.set(after, (diff = compute(before, after)));
  return diff;
}

function compute(before: ResourceMap, after: ResourceMap): ResourceDiff {
  if (before instanceof LayeredMap && after instanceof LayeredMap) {
    // A name's effective version can only change where one of its layers changed: check just those names.
    const candidates = new Set<string>();
    for (const layer of [resourceDiff(before.base, after.base), resourceDiff(before.top, after.top)]) {
      for (const name of layer.changed) candidates.add(name);
      for (const name of layer.removed) candidates.add(name);
    }
    return classify(before, after, candidates);
  }
  const changed: string[] = [];
  for (const [name, resource] of after) if (before.get(name)?.version !== resource.version) changed.push(name);
  const removed: string[] = [];
  for (const name of before.keys()) if (!after.has(name)) removed.push(name);
  return { changed, removed };
}

function classify(before: ResourceMap, after: ResourceMap, names: Iterable<string>): ResourceDiff {
  const changed: string[] = [];
  const removed: string[] = [];
  for (const name of names) {
    const now = after.get(name);
    if (now) {
      if (before.get(name)?.version !== now.version) changed.push(name);
    } else if (before.has(name)) removed.push(name);
  }
  return { changed, removed };
}
