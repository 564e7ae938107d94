/**
 * The read-only web console on the admin port, under /console: services and
 * their versions' golden signals, routes and live split, canary timelines and
 * connected proxies' sync status.
 *
 * Everything it needs ships with it: the page and its script are compiled in
 * (page.generated.ts, from assets/) and the chart library (uPlot) is read from
 * node_modules at start; all are served from memory, so it works in an
 * air-gapped cluster with no CDN and from any build of dist/. Live updates are long polls
 * of GET /console/api/state?since=<last sample>&wait=1&series=<hosts|all>,
 * answered at the next sample with what is new, and series only for the
 * services the page shows plots of (and every canary's); they go through the
 * admin server's ordinary `route()` API, GET only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AdminServer } from '../admin/server.js';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { buildConsoleState, type ConsoleStateSources } from './console-state.js';
import { pageAssets } from './page.generated.js';
import { ConsoleTimeline, type TimelineOptions, type TimelineSources } from './timeline.js';

export class ConsoleAssetError extends SluiceError {}

export type ConsoleSources = TimelineSources & ConsoleStateSources;

interface Asset {
  readonly body: string;
  readonly contentType: string;
}

/**
 * The page loads nothing but its own files and talks only to its own origin;
 * no other site may frame it (clickjacking) or have its files sniffed as another type.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
});

/** Services whose series one request may ask for by name (`series=all` asks for every one). */
const MAX_SELECTED = 200;

/** Longest a live page's poll is held before it is answered unchanged. */
const MAX_WAIT_MS = 15_000;

/** The page (compiled in, see generate-page.ts) and the chart library, read once from node_modules. */
function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const searched: string[] = [];
  const read = (specifier: string) => {
    try {
      const file = require.resolve(specifier);
      searched.push(file);
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConsoleAssetError('console-assets-missing', 'the chart library (npm package uplot) is not installed', { searched: [...searched, specifier] }, { cause: error });
    }
  };
  const uplotScript = read('uplot/dist/uPlot.iife.min.js');
  const uplotStyle = read('uplot/dist/uPlot.min.css');
  return new Map<string, Asset>([
    ['index.html', { body: pageAssets['index.html'], contentType: 'text/html; charset=utf-8' }],
    ['console.js', { body: pageAssets['console.js'], contentType: 'text/javascript; charset=utf-8' }],
    ['console.css', { body: pageAssets['console.css'], contentType: 'text/css; charset=utf-8' }],
    ['uPlot.iife.min.js', { body: uplotScript, contentType: 'text/javascript; charset=utf-8' }],
    ['uPlot.min.css', { body: uplotStyle, contentType: 'text/css; charset=utf-8' }],
  ]);
}

export interface ConsoleHandle {
  readonly timeline: ConsoleTimeline;
  start(): void;
  stop(): void;
}

/** Register the console's GET routes on the admin server; `start()` begins sampling. */
export function registerConsole(admin: AdminServer, sources: ConsoleSources, logger: Logger, options: TimelineOptions = {}): ConsoleHandle {
  const timeline = new ConsoleTimeline(sources, logger, options);
  let assets: Map<string, Asset>;
  let missing: string | undefined;
  try {
    assets = loadAssets();
  } catch (error) {
    // The page is a convenience: without its chart library the control plane still serves xDS and /console/api/state.
    if (!(error instanceof ConsoleAssetError)) throw error;
    assets = new Map();
    missing = `${error.message} (searched ${JSON.stringify(error.context.searched ?? [])}); /console/api/state still answers`;
    logger.error({ err: error }, 'web console page unavailable');
  }
  const page = assets.get('index.html');
  const serve = (asset: Asset) => ({ status: 200, body: asset.body, contentType: asset.contentType, headers: PAGE_HEADERS });
  const unavailable = () => ({ status: 503, body: { error: missing ?? 'console page unavailable' } });
  admin.route('GET', '/console', () => (page ? serve(page) : unavailable()));
  admin.route('GET', '/console/*', async (_request, url) => {
    const rest = url.pathname.slice('/console/'.length);
    if (rest === '') return page ? serve(page) : unavailable();
    if (rest.startsWith('assets/')) {
      if (!page) return unavailable();
      const asset = assets.get(rest.slice('assets/'.length));
      return asset ? serve(asset) : { status: 404, body: { error: `no console asset ${rest}` } };
    }
    if (rest === 'api/state') {
      const since = Number(url.searchParams.get('since') ?? 0);
      const cursor = Number.isFinite(since) && since > 0 ? since : 0;
      // A live page asks for what comes after its last sample: hold the request until there is some.
      if (url.searchParams.get('wait') === '1' && cursor > 0 && timeline.lastSample <= cursor) await timeline.nextSample(MAX_WAIT_MS);
      const series = url.searchParams.get('series') ?? '';
      const selection = series === 'all' ? 'all' : new Set(series.split(',').filter(Boolean).slice(0, MAX_SELECTED));
      return { status: 200, body: buildConsoleState(sources, timeline, cursor, selection), headers: PAGE_HEADERS };
    }
    return { status: 404, body: { error: `no such console page: ${url.pathname} (open /console)` } };
  });
  return {
    timeline,
    start: () => timeline.start(),
    stop: () => timeline.stop(),
  };
}
