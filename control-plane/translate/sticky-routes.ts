/**
 * A weighted route made sticky by user ID (model/sticky-users.ts): before the
 * per-request split, one route per (user-ID source, destination) sends the
 * users whose number that destination owns straight to it. Requests without a
 * usable ID fall through to the split as before.
 */
import { userRangePattern, userRanges } from '../model/sticky-users.js';
import type { Route, UserIdSource } from '../model/traffic.js';
import type { ProxyMode } from './proxy-scope.js';
import { withUserIdCondition, type RouteMatchJson } from './route-match.js';

export interface StickyRoute {
  readonly name: string;
  readonly match: RouteMatchJson;
  readonly version: string;
}

export interface StickyRoutes {
  readonly routes: readonly StickyRoute[];
  /** Sources this proxy cannot read (a JSON body on a proxyless client): those users are split per request. */
  readonly unreadable: readonly UserIdSource[];
  /** JSON Pointers the sticky routes read from the body (the listener's json_to_metadata filter must lift them). */
  readonly readBody: readonly string[];
}

/** `match` is the route's own match, already translated for `mode`. */
export function stickyRoutes(route: Route, match: RouteMatchJson, sources: readonly UserIdSource[], mode: ProxyMode): StickyRoutes {
  const ranges = userRanges(route.destinations);
  if (ranges.length < 2 || sources.length === 0) return { routes: [], unreadable: [], readBody: [] };
  const routes: StickyRoute[] = [];
  const unreadable: UserIdSource[] = [];
  const readBody: string[] = [];
  for (const source of sources) {
    if (source.kind === 'jsonBody' && mode !== 'proxyless') readBody.push(source.pointer);
    for (const range of ranges) {
      const result = withUserIdCondition(match, { source, match: { kind: 'regex', pattern: userRangePattern(range.from, range.to) } }, mode);
      if ('unsupported' in result) {
        unreadable.push(source);
        break;
      }
      routes.push({ name: `${route.name}/users-${range.version}`, match: result.match, version: range.version });
    }
  }
  return { routes, unreadable, readBody };
}
