/**
 * The canary controller's overrides: each canary's service gets the routes
 * its state asks for (all on stable; the cohort on the canary and a weighted
 * split; all on the canary). The canary owns its service's routes for the
 * whole release — the user's own routes come back when the Canary is
 * deleted — while versions, retries, timeouts and the rest stay the policy's.
 */
import type { CanarySpec } from '../api/types.js';
import type { ModelOverride } from '../model/overrides.js';
import { serviceHost } from '../model/snapshot.js';
import { userIdMatchFromSpec, userIdSourceFromSpec } from '../model/traffic-from-policy.js';
import { matchEverything, type Route, type WeightedDestination } from '../model/traffic.js';
import type { Routing } from './state-machine.js';

export interface CanaryRouting {
  readonly namespace: string;
  readonly spec: CanarySpec;
  readonly routing: Routing;
}

export function canaryRoutes(spec: CanarySpec, routing: Routing): Route[] {
  const split = (stable: number): WeightedDestination[] =>
    [
      { version: spec.stable, weight: stable },
      { version: spec.canary, weight: 100 - stable },
    ].filter((w) => w.weight > 0);
  switch (routing.kind) {
    case 'stable':
      return [{ name: 'canary-stable', match: matchEverything, destinations: split(100) }];
    case 'canary':
      return [{ name: 'canary-promoted', match: matchEverything, destinations: split(0) }];
    case 'split': {
      const routes: Route[] = [];
      if (routing.cohort && spec.cohort) {
        routes.push({ name: 'canary-cohort', match: { ...matchEverything, userId: userIdMatchFromSpec(spec.cohort) }, destinations: [{ version: spec.canary, weight: 100 }] });
      }
      routes.push({ name: 'canary-split', match: matchEverything, destinations: split(100 - routing.weight) });
      return routes;
    }
  }
}

/** One `routes` override per canary's service. */
export function canaryOverrides(routings: Iterable<CanaryRouting>): ModelOverride[] {
  return [...routings].map(({ namespace, spec, routing }) => {
    const override: ModelOverride = { kind: 'routes', service: serviceHost(spec.service, namespace), routes: canaryRoutes(spec, routing) };
    // The cohort's user ID also keeps each user on one version through the weighted steps.
    return spec.cohort ? { ...override, userIdSources: [userIdSourceFromSpec(spec.cohort)] } : override;
  });
}
