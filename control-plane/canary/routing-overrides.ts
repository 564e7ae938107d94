/**
 * The canary controller's overlay: rewrites the routes of each canary's
 * TrafficPolicy to the routing its state asks for. The canary owns its
 * service's routes for the whole release (the user's own routes come back
 * when the Canary is deleted); versions, retries, timeouts and the rest of the
 * policy are untouched. New objects are deep-frozen, like every source's.
 */
import type { CanarySpec, RouteSpec } from '../api/types.js';
import type { Overlay } from '../model/store.js';
import { deepFreeze, type SourceObject } from '../core/source-object.js';
import type { Routing } from './state-machine.js';

export interface CanaryRouting {
  readonly namespace: string;
  readonly spec: CanarySpec;
  readonly routing: Routing;
}

export function canaryRoutes(spec: CanarySpec, routing: Routing): RouteSpec[] {
  const to = (stable: number): RouteSpec['to'] =>
    [
      { version: spec.stable, weight: stable },
      { version: spec.canary, weight: 100 - stable },
    ].filter((w) => w.weight > 0);
  switch (routing.kind) {
    case 'stable':
      return [{ name: 'canary-stable', to: to(100) }];
    case 'canary':
      return [{ name: 'canary-promoted', to: to(0) }];
    case 'split': {
      const routes: RouteSpec[] = [];
      if (routing.cohort && spec.cohort) routes.push({ name: 'canary-cohort', match: { userId: { ...spec.cohort } }, to: [{ version: spec.canary, weight: 100 }] });
      routes.push({ name: 'canary-split', to: to(100 - routing.weight) });
      return routes;
    }
  }
}

/** An overlay applying every canary's routing; `routings` is read when the overlay runs. */
export function canaryOverlay(routings: () => Iterable<CanaryRouting>): Overlay {
  return (objects: readonly SourceObject[]) => {
    const byService = new Map<string, CanaryRouting>();
    for (const routing of routings()) byService.set(`${routing.namespace}/${routing.spec.service}`, routing);
    if (byService.size === 0) return objects;
    return objects.map((object) => {
      if (object.kind !== 'TrafficPolicy') return object;
      const spec = object.manifest.spec as { service?: string } | undefined;
      const routing = byService.get(`${object.namespace}/${spec?.service}`);
      if (!routing) return object;
      const manifest = { ...object.manifest, spec: { ...spec, routes: canaryRoutes(routing.spec, routing.routing) } };
      return deepFreeze({ ...object, manifest });
    });
  };
}
