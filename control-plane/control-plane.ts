/**
 * The running control plane: a source feeds the snapshot store; accepted
 * snapshots reach the xDS cache after a short debounce (a burst of edits is
 * one push); the xDS server streams from the cache; the admin port reports.
 */
import type { Logger } from './log/logger.js';
import { AdminServer } from './admin/server.js';
import { formatConfigIssue } from './errors.js';
import { SnapshotStore } from './model/store.js';
import type { Snapshot } from './model/snapshot.js';
import type { ConfigSource } from './sources/yaml-directory.js';
import { resourceKinds } from './translate/resources.js';
import { proxyIdentityFromNode } from './translate/proxy-scope.js';
import { XdsCache } from './xds/cache.js';
import { ConnectionRegistry } from './xds/connections.js';
import { ControlPlaneMetrics } from './xds/metrics.js';
import { XdsServer, type AdditionalService, type XdsTlsOptions } from './xds/server.js';
import { currentScope } from './xds/stream-context.js';

export interface ControlPlaneOptions {
  readonly source: ConfigSource;
  readonly logger: Logger;
  readonly host?: string;
  readonly xdsPort: number;
  readonly adminPort: number;
  readonly tls?: XdsTlsOptions;
  /** Quiet period before a new snapshot is pushed (default 100 ms). */
  readonly debounceMs?: number;
  readonly validateResources?: boolean;
  readonly additionalServices?: readonly AdditionalService[];
}

export class ControlPlane {
  readonly store: SnapshotStore;
  readonly cache: XdsCache;
  readonly connections = new ConnectionRegistry();
  readonly metrics = new ControlPlaneMetrics();
  readonly admin: AdminServer;
  readonly xds: XdsServer;
  #timer?: NodeJS.Timeout;
  #firstPending = 0;
  #pending?: Snapshot;

  constructor(private readonly options: ControlPlaneOptions) {
    const logger = options.logger;
    this.store = new SnapshotStore(logger.child({ component: 'model' }));
    this.cache = new XdsCache({ logger: logger.child({ component: 'xds-cache' }), validate: options.validateResources ?? true });
    this.xds = new XdsServer(
      { host: options.host, port: options.xdsPort, tls: options.tls },
      { cache: this.cache, connections: this.connections, metrics: this.metrics, logger: logger.child({ component: 'xds' }) },
      options.additionalServices,
    );
    this.admin = new AdminServer(logger.child({ component: 'admin' }));
    this.#adminRoutes();
    this.store.subscribe((snapshot) => this.#schedule(snapshot));
  }

  /** Apply a snapshot to the cache after the debounce; bursts coalesce, but never wait longer than 10× the debounce. */
  #schedule(snapshot: Snapshot): void {
    this.#pending = snapshot;
    const debounce = this.options.debounceMs ?? 100;
    const now = Date.now();
    if (this.#timer === undefined) this.#firstPending = now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(debounce, this.#firstPending + 10 * debounce - now));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const latest = this.#pending!;
      this.#pending = undefined;
      this.cache.update(latest);
      this.metrics.setSnapshot(latest.version);
    }, wait);
  }

  async start(): Promise<{ xdsPort: number; adminPort: number }> {
    const adminPort = await this.admin.start(this.options.adminPort, this.options.host);
    const xdsPort = await this.xds.start();
    await this.options.source.start((load) => {
      const error = this.store.apply(load);
      if (error) this.metrics.configErrors.inc();
    });
    this.options.logger.info({ xdsPort, adminPort, source: this.options.source.description, snapshot: this.store.current?.version ?? null }, 'control plane started');
    return { xdsPort, adminPort };
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.options.source.stop();
    await this.xds.stop();
    await this.admin.stop();
  }

  #adminRoutes(): void {
    this.admin.route('GET', '/healthz', () => ({ status: 200, body: 'ok\n' }));
    this.admin.route('GET', '/readyz', () => {
      const current = this.cache.snapshot;
      const lastError = this.store.lastError;
      const body = {
        ready: Boolean(current),
        snapshot: current?.version ?? null,
        lastConfigError: lastError ? { count: lastError.issues.length, issues: lastError.issues.map(formatConfigIssue) } : null,
      };
      return { status: current ? 200 : 503, body };
    });
    this.admin.route('GET', '/metrics', async () => ({ status: 200, body: await this.metrics.registry.metrics(), contentType: this.metrics.registry.contentType }));
    this.admin.route('GET', '/debug/syncz', () => ({ status: 200, body: this.connections.syncStatus(this.cache.snapshot?.version) }));
    this.admin.route('GET', '/debug/config_dump', (_request, url) => {
      const nodeId = url.searchParams.get('proxy');
      if (!nodeId) return { status: 400, body: { error: 'give ?proxy=<node-id> (see /debug/syncz for connected proxies)' } };
      const connection = this.connections.byNodeId(nodeId);
      const identity = connection?.identity ?? (url.searchParams.get('namespace') || nodeId.includes('.') ? proxyIdentityFromNode(nodeId, Object.fromEntries(url.searchParams)) : undefined);
      if (!identity) return { status: 404, body: { error: `proxy ${nodeId} is not connected` } };
      const view = this.cache.view(currentScope(this.cache, identity).scope);
      if (!view) return { status: 503, body: { error: 'no valid snapshot yet' } };
      return {
        status: 200,
        body: {
          nodeId,
          connected: Boolean(connection),
          snapshot: view.snapshotVersion,
          scope: view.key,
          ...Object.fromEntries(resourceKinds.map((kind) => [kind, [...view.resources[kind].values()].map((r) => ({ name: r.name, version: r.version, resource: r.body }))])),
          warnings: view.issues.map((i) => `${i.object ?? i.resource}: ${i.message}`),
        },
      };
    });
  }
}
