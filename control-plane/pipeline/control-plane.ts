/**
 * The running control plane: a source feeds the snapshot store; accepted
 * snapshots reach the xDS cache after a short debounce (a burst of edits is
 * one push); the xDS server streams from the cache; the admin port reports.
 *
 * Telemetry comes in on the xDS port (LRS from proxyless clients and Envoy,
 * the Envoy stats sink) into a telemetry store; the canary controller and
 * mesh-wide ejection read it and change the model through store overlays.
 */
import type { Logger } from '../log/logger.js';
import type { IncomingMessage } from 'node:http';
import { AdminServer, type AdminResponse } from '../admin/server.js';
import type { AdminAuthenticator } from '../admin/auth.js';
import { formatConfigIssue, SluiceError } from '../core/errors.js';
import { SnapshotStore } from '../model/store.js';
import type { Snapshot } from '../model/snapshot.js';
import type { ConfigSource } from '../core/config-source.js';
import { resourceKinds } from '../translate/resources.js';
import { ProxyIdentityError, proxyIdentityFromNode } from '../translate/proxy-scope.js';
import { withoutPrivateKeys } from '../translate/gateway.js';
import { gatewaySummary } from './gateway-status.js';
import { XdsCache } from '../xds/cache.js';
import { CanaryCommandError, CanaryController, type CanaryFinisher } from '../canary/controller.js';
import { MeshEjector, type EjectionSettings } from '../canary/ejection.js';
import type { CanaryPersistence } from '../canary/persistence.js';
import type { CanaryCommand } from '../canary/state-machine.js';
import { LoadReportingServer } from '../telemetry/load-reporting.js';
import { LocalityIndex } from '../telemetry/locality-index.js';
import { PrometheusClient } from '../telemetry/prometheus-query.js';
import { StatsSinkServer } from '../telemetry/stats-sink.js';
import { TelemetryStore } from '../telemetry/telemetry-store.js';
import { parseSharedWindows, REPLICA_HEADER, TELEMETRY_SHARING_PATH, TelemetrySharing } from '../telemetry/telemetry-sharing.js';
import { ConnectionRegistry } from '../xds/connections.js';
import { registerConsole, type ConsoleHandle } from '../console/console.js';
import type { TimelineOptions } from '../console/timeline.js';
import { ControlPlaneMetrics } from '../xds/metrics.js';
import { XdsServer, type AdditionalService, type XdsTlsOptions } from '../xds/server.js';
import { currentScope } from '../xds/stream-context.js';
import type { XdsLimits } from '../xds/stream-limits.js';
import type { CertificateAuthority } from '../identity/certificate-authority.js';
import { WorkloadCertificates } from '../identity/workload-certificates.js';
import type { IdentityVerifier } from '../identity/workload-identity.js';
import { workloadMtlsMode } from '../model/security.js';

export interface ControlPlaneOptions {
  readonly source: ConfigSource;
  readonly logger: Logger;
  readonly host?: string;
  readonly xdsPort: number;
  readonly adminPort: number;
  /** Address of the admin port (default 127.0.0.1: only this host can reach it). */
  readonly adminHost?: string;
  /** Who may call state-changing admin endpoints (default: nobody). */
  readonly adminAuth?: AdminAuthenticator;
  readonly tls?: XdsTlsOptions;
  /** Quiet period before a new snapshot is pushed (default 100 ms). */
  readonly debounceMs?: number;
  readonly validateResources?: boolean;
  readonly additionalServices?: readonly AdditionalService[];
  /** Telemetry windows' slot width (default 1 s) and how often proxies send LRS reports (default 1 s). */
  readonly telemetry?: { readonly slotMs?: number; readonly lrsReportIntervalMs?: number };
  /** Where canary state survives restarts (default: memory only). */
  readonly canaryPersistence?: CanaryPersistence;
  /** Carries out a Canary's spec.finish after success (Kubernetes mode). */
  readonly canaryFinisher?: CanaryFinisher;
  /** Prometheus for canary metrics with `source: prometheus`. */
  readonly prometheusUrl?: string;
  /** Mesh-wide ejection settings; false turns it off. */
  readonly ejection?: EjectionSettings | false;
  /** Whether this replica runs canaries and ejection (leader election); default always. */
  readonly isLeader?: () => boolean;
  /** The web console's sampling (default: every 1 s, rates over 10 s). */
  readonly console?: TimelineOptions;
  /** xDS stream and subscription budgets (`--xds-max-streams`, `--xds-max-subscriptions`). */
  readonly xdsLimits?: Partial<XdsLimits>;
  /** The mesh CA: workload certificates over SDS to proxies that prove their service account (issue #18). */
  readonly workloadIdentity?: { readonly authority: CertificateAuthority; readonly verifiers: readonly IdentityVerifier[]; readonly certificateTtlMs?: number };
  /** The control plane's namespace: its TelemetryConfig applies mesh-wide (default sluice-system). */
  readonly meshNamespace?: string;
  /**
   * Several replicas (Kubernetes mode): followers forward canary commands to
   * the leader and send it their telemetry windows (telemetry-sharing.ts).
   */
  readonly replicas?: {
    readonly identity: string;
    readonly leaderAdminUrl: () => string | undefined;
    /** `Bearer …` this replica presents to the leader. */
    readonly authorization: () => Promise<string | undefined>;
  };
}

/** Set on a command a follower forwards: the receiver never forwards it again. */
const FORWARDED_HEADER = 'x-sluice-forwarded-by';
/** On the follower's answer to a forwarded command: which leader answered. */
const FORWARDED_TO_HEADER = 'x-sluice-forwarded-to';

export class ControlPlane {
  readonly store: SnapshotStore;
  readonly cache: XdsCache;
  readonly connections = new ConnectionRegistry();
  readonly metrics = new ControlPlaneMetrics();
  readonly admin: AdminServer;
  readonly xds: XdsServer;
  readonly telemetry: TelemetryStore;
  readonly loadReporting: LoadReportingServer;
  readonly statsSink: StatsSinkServer;
  readonly canaries: CanaryController;
  readonly ejector?: MeshEjector;
  readonly console: ConsoleHandle;
  readonly certificates?: WorkloadCertificates;
  readonly sharing?: TelemetrySharing;
  #localities?: { version: string; index: LocalityIndex };
  #timer?: NodeJS.Timeout;
  #firstPending = 0;
  #pending?: Snapshot;
  /** Every part started: until then /readyz says not ready, whatever the cache holds. */
  #started = false;

  constructor(private readonly options: ControlPlaneOptions) {
    const logger = options.logger;
    this.store = new SnapshotStore(logger.child({ component: 'model' }), { meshNamespace: options.meshNamespace });
    const trustDomain = options.workloadIdentity?.authority.trustDomain ?? options.tls?.trustDomain;
    this.cache = new XdsCache({ logger: logger.child({ component: 'xds-cache' }), validate: options.validateResources ?? true, ...(trustDomain ? { trustDomain } : {}) });
    if (options.workloadIdentity) {
      this.certificates = new WorkloadCertificates({ authority: options.workloadIdentity.authority, logger: logger.child({ component: 'identity' }), ttlMs: options.workloadIdentity.certificateTtlMs, registry: this.metrics.registry });
    }
    this.telemetry = new TelemetryStore({ slotMs: options.telemetry?.slotMs });
    const telemetryLogger = logger.child({ component: 'telemetry' });
    this.loadReporting = new LoadReportingServer({ telemetry: this.telemetry, logger: telemetryLogger, reportIntervalMs: options.telemetry?.lrsReportIntervalMs, localities: () => this.#localityIndex() });
    this.statsSink = new StatsSinkServer({ telemetry: this.telemetry, logger: telemetryLogger });
    this.metrics.trackNacks(() => this.connections.nacks());
    this.xds = new XdsServer(
      {
        host: options.host,
        port: options.xdsPort,
        tls: options.tls,
        limits: options.xdsLimits,
        ...(this.certificates ? { secrets: { verifiers: options.workloadIdentity!.verifiers, certificates: this.certificates } } : {}),
      },
      { cache: this.cache, connections: this.connections, metrics: this.metrics, logger: logger.child({ component: 'xds' }) },
      [this.loadReporting.service(), this.statsSink.service(), ...(options.additionalServices ?? [])],
    );
    this.canaries = new CanaryController({
      store: this.store,
      telemetry: this.telemetry,
      logger: logger.child({ component: 'canary' }),
      registry: this.metrics.registry,
      prometheus: options.prometheusUrl ? new PrometheusClient({ url: options.prometheusUrl }) : undefined,
      proxyNacks: () => this.connections.nacks(),
      persistence: options.canaryPersistence,
      finisher: options.canaryFinisher,
      isActive: options.isLeader,
    });
    if (options.ejection !== false) {
      this.ejector = new MeshEjector({ store: this.store, telemetry: this.telemetry, logger: logger.child({ component: 'ejection' }), registry: this.metrics.registry, settings: options.ejection, isActive: options.isLeader });
    }
    if (options.replicas) {
      const { identity, leaderAdminUrl, authorization } = options.replicas;
      this.sharing = new TelemetrySharing({ telemetry: this.telemetry, identity, leaderAdminUrl, authorization, isLeader: options.isLeader ?? (() => true), logger: logger.child({ component: 'telemetry-sharing' }) });
    }
    this.admin = new AdminServer(logger.child({ component: 'admin' }), { auth: options.adminAuth });
    this.#adminRoutes();
    this.console = registerConsole(
      this.admin,
      { snapshot: () => this.store.current, servedVersion: () => this.cache.snapshot?.version, telemetry: this.telemetry, canaries: () => this.canaries.list(), proxies: (version) => this.#syncRows(version) },
      logger.child({ component: 'console' }),
      options.console,
    );
    this.store.subscribe((snapshot) => this.#schedule(snapshot));
  }

  /** Each proxy's sync state, with its workload's mTLS mode (its PeerAuthentication) and its SDS certificate: /debug/syncz, status, console. */
  #syncRows(version: string | undefined): Array<Record<string, unknown>> {
    const snapshot = this.cache.snapshot;
    const identities = new Map(this.connections.all().filter((c) => c.identity).map((c) => [c.identity!.nodeId, c.identity!]));
    return this.connections.syncStatus(version).map((row) => ({ ...row, mtls: (snapshot && workloadMtlsMode(snapshot, identities.get(row.nodeId as string))) ?? null }));
  }

  /** Localities of the served snapshot, rebuilt when it changes (LRS attribution). */
  #localityIndex(): LocalityIndex | undefined {
    const snapshot = this.store.current;
    if (!snapshot) return undefined;
    if (this.#localities?.version !== snapshot.version) this.#localities = { version: snapshot.version, index: new LocalityIndex(snapshot) };
    return this.#localities.index;
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
      this.#warnMtlsWithoutCa(latest);
    }, wait);
  }

  #warnedMtlsWithoutCa = false;

  /** PERMISSIVE or STRICT without a CA: TLS chains wait for certificates nobody issues. Said once, loudly. */
  #warnMtlsWithoutCa(snapshot: Snapshot): void {
    if (this.certificates || this.#warnedMtlsWithoutCa) return;
    const needing = [...snapshot.services.values()].filter((service) => service.security?.mtls && service.security.mtls.mode !== 'DISABLE');
    if (needing.length === 0) return;
    this.#warnedMtlsWithoutCa = true;
    this.options.logger.warn({ services: needing.slice(0, 10).map((service) => service.host) }, `${needing.length} service(s) have a PeerAuthentication in PERMISSIVE or STRICT, but no mesh CA runs (--ca-secret, --ca-dir or --ca-cert): their proxies get no certificates, so mTLS handshakes fail (plaintext still works in PERMISSIVE)`);
  }

  async start(): Promise<{ xdsPort: number; adminPort: number }> {
    const adminPort = await this.#listenAdmin(this.options.adminPort, this.options.adminHost ?? '127.0.0.1');
    let xdsPort: number;
    try {
      xdsPort = await this.xds.start();
      await this.options.source.start((load) => {
        const error = this.store.apply(load);
        if (error) this.metrics.configErrors.inc();
      });
      await this.canaries.start();
    } catch (error) {
      // Fail fast: stop what did start, so the caller can exit instead of serving half a control plane.
      await this.stop().catch(() => undefined);
      throw error;
    }
    this.#started = true;
    this.sharing?.start();
    this.ejector?.start();
    this.console.start();
    this.options.logger.info({ xdsPort, adminPort, adminAuthentication: this.admin.authentication, source: this.options.source.description, snapshot: this.store.current?.version ?? null }, 'control plane started');
    return { xdsPort, adminPort };
  }

  async #listenAdmin(port: number, host: string | undefined): Promise<number> {
    try {
      return await this.admin.start(port, host);
    } catch (error) {
      throw new SluiceError('admin-listen', `cannot serve the admin API on port ${port}: ${(error as Error).message} (see --admin-port)`, { host, port }, { cause: error });
    }
  }

  async stop(): Promise<void> {
    this.#started = false;
    clearTimeout(this.#timer);
    this.canaries.stop();
    this.certificates?.stop();
    this.sharing?.stop();
    this.ejector?.stop();
    this.console.stop();
    this.loadReporting.close();
    await this.options.source.stop();
    await this.xds.stop();
    await this.admin.stop();
  }

  /**
   * A canary command reached a follower: send it on to the leader (its admin
   * URL is on the Lease) with the caller's own credentials, so the leader
   * authorises it again and its audit log names the caller. Forwarded once.
   */
  async #forwardToLeader(request: IncomingMessage, url: URL): Promise<AdminResponse> {
    const leader = this.options.replicas?.leaderAdminUrl();
    if (!leader || request.headers[FORWARDED_HEADER] !== undefined) {
      return { status: 503, body: { error: `this replica is not the leader${leader ? '' : ' and does not know the leader\'s address yet'}; try again shortly`, code: 'canary-not-leader' } };
    }
    try {
      const response = await fetch(new URL(url.pathname, leader), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [FORWARDED_HEADER]: this.options.replicas!.identity,
          ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
        },
        body: '{}',
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: passed on as text
      }
      return { status: response.status, body, headers: { [FORWARDED_TO_HEADER]: leader } };
    } catch (error) {
      return { status: 503, body: { error: `this replica is not the leader, and the leader at ${leader} cannot be reached: ${(error as Error).message}`, code: 'canary-not-leader' } };
    }
  }

  #adminRoutes(): void {
    this.admin.route('GET', '/healthz', () => ({ status: 200, body: 'ok\n' }));
    this.admin.route('GET', '/readyz', () => {
      const current = this.cache.snapshot;
      const lastError = this.store.lastError;
      const body = {
        ready: Boolean(current) && this.#started,
        snapshot: current?.version ?? null,
        lastConfigError: lastError ? { count: lastError.issues.length, issues: lastError.issues.map(formatConfigIssue) } : null,
        // Served but rejected: the control plane is ready, the proxies keep older config. Named here so it is never silent.
        proxyNacks: this.connections.nacks().map((n) => `${n.nodeId}${n.client ? ` (${n.client})` : ''} NACKed ${n.type}${n.resources === 'wildcard' ? '' : ` ${n.resources.join(', ')}`}: ${n.message}`),
        // Resources that failed Envoy's rules: never withdrawn silently, the last good version is still served.
        withheldResources: this.cache.withheld().map((w) => `${w.kind} ${w.name} (${w.scopes} scope${w.scopes === 1 ? '' : 's'}): ${w.problem}; ${w.servedVersion ? `serving last good version ${w.servedVersion}` : 'not served: it never had a good version'}`),
      };
      return { status: body.ready ? 200 : 503, body };
    });
    // The edge: every Gateway Sluice programs, its listeners, and the gateway proxies connected for it.
    this.admin.route('GET', '/debug/gateways', () => ({ status: 200, body: gatewaySummary(this.store.current, this.connections.all().flatMap((c) => (c.identity?.gateway ? [c.identity.gateway] : []))) }));
    this.admin.route('GET', '/metrics', async () => ({ status: 200, body: await this.metrics.registry.metrics(), contentType: this.metrics.registry.contentType }));
    this.admin.route('GET', '/debug/telemetry', (_request, url) => {
      const windowMs = Number(url.searchParams.get('windowMs') ?? 60_000);
      return {
        status: 200,
        body: {
          lrs: { streams: this.loadReporting.streams, reports: this.loadReporting.reports },
          statsSink: { streams: this.statsSink.streams, messages: this.statsSink.messages },
          ejected: this.ejector?.ejected() ?? [],
          replicas: this.telemetry.peers(),
          ...this.telemetry.debugView(Number.isFinite(windowMs) && windowMs > 0 ? windowMs : 60_000),
        },
      };
    });
    this.admin.route('GET', '/api/v1/canaries', () => ({ status: 200, body: this.canaries.list() }));
    this.admin.route('GET', '/api/v1/canaries/*', (_request, url) => {
      const [namespace, name, extra] = url.pathname.slice('/api/v1/canaries/'.length).split('/');
      if (!namespace || !name || extra !== undefined) return { status: 404, body: { error: 'use /api/v1/canaries/<namespace>/<name>' } };
      const view = this.canaries.get(namespace, name);
      return view ? { status: 200, body: view } : { status: 404, body: { error: `no Canary ${namespace}/${name} is being served` } };
    });
    // A command is the custom RBAC verb of the same name on canaries.sluice.dev <namespace>/<name>.
    const canaryCommand = (url: URL) => {
      const [namespace, name, command, extra] = url.pathname.slice('/api/v1/canaries/'.length).split('/');
      const commands: readonly string[] = ['promote', 'abort', 'pause', 'resume'];
      if (!namespace || !name || !command || extra !== undefined || !commands.includes(command)) return undefined;
      return { verb: command as CanaryCommand, group: 'sluice.dev', resource: 'canaries', namespace, name };
    };
    this.admin.route('POST', '/api/v1/canaries/*', async (request, url) => {
      const { namespace, name, verb } = canaryCommand(url)!;
      try {
        return { status: 200, body: await this.canaries.command(namespace, name, verb) };
      } catch (error) {
        if (error instanceof CanaryCommandError && error.code === 'canary-not-leader') return this.#forwardToLeader(request, url);
        if (error instanceof CanaryCommandError) return { status: error.httpStatus, body: { error: error.message, code: error.code } };
        throw error;
      }
    }, canaryCommand);
    // Followers' telemetry windows: who may write canary status (the control plane's own account) may feed the analysis.
    this.admin.route('POST', TELEMETRY_SHARING_PATH, (request, _url, body) => {
      const replica = request.headers[REPLICA_HEADER];
      if (typeof replica !== 'string' || !/^[\w.:-]{1,253}$/.test(replica)) return { status: 400, body: { error: `send the replica's identity in ${REPLICA_HEADER}` } };
      let windows;
      try {
        windows = parseSharedWindows(body);
        this.telemetry.importPeer(replica, windows);
      } catch (error) {
        return { status: 400, body: { error: (error as Error).message } };
      }
      return { status: 200, body: { replica, series: windows.series.length } };
    }, () => ({ verb: 'update', group: 'sluice.dev', resource: 'canaries', subresource: 'status' }));
    this.admin.route('GET', '/debug/syncz', () => ({ status: 200, body: this.#syncRows(this.cache.snapshot?.version) }));
    this.admin.route('GET', '/debug/certificates', () => ({
      status: 200,
      // Public facts only: the CA's subject and expiry, each identity's serial and expiry. Never a key.
      body: this.certificates ? { authority: this.certificates.authority.toJSON(), workloads: this.certificates.status() } : { authority: null, workloads: [] },
    }));
    this.admin.route('GET', '/debug/config_dump', async (request, url) => {
      const nodeId = url.searchParams.get('proxy');
      if (!nodeId) return { status: 400, body: { error: 'give ?proxy=<node-id> (see /debug/syncz for connected proxies)' } };
      const connection = this.connections.byNodeId(nodeId);
      let identity;
      try {
        // A proxy not connected now is shown as it last connected (a proxyless client must not get a sidecar's view);
        // one never seen, as the query describes it (`<pod>.<namespace>` ids are sidecars unless &mode=proxyless).
        identity = this.connections.knownIdentity(nodeId) ?? (url.searchParams.get('namespace') || nodeId.includes('.') ? proxyIdentityFromNode(nodeId, Object.fromEntries(url.searchParams)) : undefined);
      } catch (error) {
        if (error instanceof ProxyIdentityError) return { status: 400, body: { error: error.message } };
        throw error;
      }
      if (!identity) return { status: 404, body: { error: `proxy ${nodeId} is not connected and was not seen since start; to preview its config give &namespace=<ns> (and &mode=proxyless for a gRPC client)` } };
      // With client certificates a namespace's config is its own; reading it takes the admin authentication.
      if (this.options.tls?.clientCaFile) {
        await this.admin.authorize(request, { verb: 'get', group: 'sluice.dev', resource: 'proxies', subresource: 'configdump', namespace: identity.namespace, name: nodeId });
      }
      const view = this.cache.view(currentScope(this.cache, identity).scope);
      if (!view) return { status: 503, body: { error: 'no valid snapshot yet' } };
      return {
        status: 200,
        body: {
          nodeId,
          connected: Boolean(connection),
          snapshot: view.snapshotVersion,
          scope: view.key,
          // A gateway's HTTPS listeners hold their certificates' private keys: never shown.
          ...Object.fromEntries(resourceKinds.map((kind) => [kind, [...view.resources[kind].values()].map((r) => ({ name: r.name, version: r.version, resource: kind === 'listeners' ? withoutPrivateKeys(r.body) : r.body }))])),
          warnings: view.issues.map((i) => `${i.object ?? i.resource}: ${i.message}`),
        },
      };
    });
  }
}
