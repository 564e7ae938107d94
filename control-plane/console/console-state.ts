/**
 * The console's one JSON document: services with their versions' golden
 * signals, routes and live split; canaries with their bounds and timelines;
 * connected proxies with their per-type sync status. With `since`, series and
 * decisions carry only what was sampled after it, so a live page polls cheaply
 * whatever the history length.
 */
import type { CanaryView } from '../canary/controller.js';
import type { Snapshot } from '../model/snapshot.js';
import { serviceHost } from '../model/snapshot.js';
import { matchesEverything, type RouteMatch, type StringMatch } from '../model/traffic.js';
import { metricBound, type CanaryTimeline, type ConsoleTimeline, type MetricBound, type ServiceSeries, type VersionSignals } from './timeline.js';

export interface ConsoleStateSources {
  readonly snapshot: () => Snapshot | undefined;
  /** The snapshot version proxies are being served (after the push debounce). */
  readonly servedVersion: () => string | undefined;
  readonly canaries: () => readonly CanaryView[];
  readonly proxies: (servedVersion: string | undefined) => ReadonlyArray<Record<string, unknown>>;
}

export interface ConsoleRoute {
  readonly name: string;
  /** A readable summary of the match; undefined matches every request. */
  readonly match?: string;
  readonly to: ReadonlyArray<{ readonly version: string; readonly weight: number }>;
}

export interface ConsoleService {
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
  /** Every endpoint of the service (ready or not). */
  readonly endpoints: number;
  readonly versions: ReadonlyArray<{ readonly name: string; readonly endpoints: number; readonly ready: number } & Partial<VersionSignals>>;
  readonly routes: readonly ConsoleRoute[];
  readonly canary?: string;
  readonly series?: ServiceSeries;
}

export interface ConsoleCanary extends CanaryView {
  readonly bounds: readonly MetricBound[];
  readonly timeline?: CanaryTimeline;
}

export interface ConsoleState {
  readonly sampleAt: number;
  readonly sampleMs: number;
  readonly rateWindowMs: number;
  /** True when series hold everything kept (no `since`). */
  readonly full: boolean;
  readonly snapshot: string | null;
  readonly served: string | null;
  readonly services: readonly ConsoleService[];
  readonly canaries: readonly ConsoleCanary[];
  /** The proxies in trouble first (NACKED, then STALE), at most MAX_PROXY_ROWS of them. */
  readonly proxies: ReadonlyArray<Record<string, unknown>>;
  /** Every connected proxy, counted by its worst type status. */
  readonly proxyCounts: { readonly total: number; readonly nacked: number; readonly stale: number; readonly synced: number };
}

/** Rows of the proxies table a page gets: a mesh of thousands of sidecars is summarised by the counts. */
export const MAX_PROXY_ROWS = 200;

/** A syncz row's worst status: 2 NACKED, 1 STALE or NOT SENT, 0 SYNCED. */
function severity(row: Record<string, unknown>): number {
  const types = Object.values((row.types ?? {}) as Record<string, { status?: string }>);
  if (types.some((t) => t.status === 'NACKED')) return 2;
  return types.some((t) => t.status !== 'SYNCED') ? 1 : 0;
}

const describeString = (m: StringMatch): string =>
  m.kind === 'oneOf' ? `in [${m.values.join(', ')}]` : m.kind === 'exact' ? `= ${m.value}` : m.kind === 'prefix' ? `starts with ${m.value}` : `~ /${m.pattern}/`;

/** A route's match in words ("user ID (header x-user-id) in [u-1, u-2]"); undefined when it matches every request. */
export function describeMatch(match: RouteMatch): string | undefined {
  if (matchesEverything(match)) return undefined;
  const parts: string[] = [];
  if (match.userId) {
    const source = match.userId.source.kind === 'header' ? `header ${match.userId.source.name}` : `JSON ${match.userId.source.pointer}`;
    parts.push(`user ID (${source}) ${describeString(match.userId.match)}`);
  }
  for (const header of match.headers) parts.push(`header ${header.name} ${header.kind === 'present' ? (header.present ? 'present' : 'absent') : describeString(header.match)}`);
  if (!(match.path.kind === 'prefix' && match.path.value === '/')) parts.push(`path ${match.path.kind === 'regex' ? `~ /${match.path.pattern}/` : `${match.path.kind === 'exact' ? '=' : 'starts with'} ${match.path.value}`}`);
  return parts.join(' and ');
}

/** Which services' series to send: every one, or the named hosts (services with a canary always). */
export type SeriesSelection = 'all' | ReadonlySet<string>;

export function buildConsoleState(sources: ConsoleStateSources, timeline: ConsoleTimeline, since = 0, selection: SeriesSelection = new Set()): ConsoleState {
  const snapshot = sources.snapshot();
  const served = sources.servedVersion();
  const canaryViews = sources.canaries();
  const canaryByService = new Map<string, string>();
  for (const view of canaryViews) canaryByService.set(serviceHost(view.service, view.namespace), `${view.namespace}/${view.name}`);

  const services: ConsoleService[] = [];
  for (const service of snapshot?.services.values() ?? []) {
    const signals = timeline.signals(service.host);
    const canary = canaryByService.get(service.host);
    // Series are the bulk of the document: only for services someone is looking at.
    const series = selection === 'all' || canary || selection.has(service.host) ? timeline.serviceSeries(service.host, since) : undefined;
    services.push({
      host: service.host,
      name: service.name,
      namespace: service.namespace,
      endpoints: service.endpoints.length,
      versions: [...service.versions.values()].map((v) => ({ name: v.name, endpoints: v.endpoints.length, ready: v.endpoints.filter((e) => e.ready).length, ...signals.get(v.name) })),
      // The served routes: with a canary running, its override's live split, not the policy's.
      routes: (service.traffic?.routes ?? []).map((r) => {
        const match = describeMatch(r.match);
        return { name: r.name, ...(match ? { match } : {}), to: r.destinations.map((d) => ({ version: d.version, weight: d.weight })) };
      }),
      ...(canary ? { canary } : {}),
      ...(series ? { series } : {}),
    });
  }

  const specs = new Map((snapshot?.canaries ?? []).map((c) => [`${c.namespace}/${c.name}`, c.spec] as const));
  const canaries: ConsoleCanary[] = canaryViews.map((view) => {
    const spec = specs.get(`${view.namespace}/${view.name}`);
    const history = timeline.canaryTimeline(view.namespace, view.name, since);
    return { ...view, bounds: (spec?.metrics ?? []).map(metricBound), ...(history ? { timeline: history } : {}) };
  });

  return {
    sampleAt: timeline.lastSample,
    sampleMs: timeline.sampleMs,
    rateWindowMs: timeline.rateWindowMs,
    full: since === 0,
    snapshot: snapshot?.version ?? null,
    served: served ?? null,
    services,
    canaries,
    ...proxyRows(sources.proxies(served)),
  };
}

function proxyRows(rows: ReadonlyArray<Record<string, unknown>>): Pick<ConsoleState, 'proxies' | 'proxyCounts'> {
  const graded = rows.map((row) => ({ row, severity: severity(row) }));
  const count = (level: number) => graded.filter((g) => g.severity === level).length;
  // Stable sort: within a severity the registry's order (by node id) is kept.
  const worstFirst = [...graded].sort((a, b) => b.severity - a.severity).slice(0, MAX_PROXY_ROWS);
  return { proxies: worstFirst.map((g) => g.row), proxyCounts: { total: rows.length, nacked: count(2), stale: count(1), synced: count(0) } };
}
