/** The control plane's Prometheus metrics (served on the admin port at /metrics). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly connectedProxies = new Gauge({ name: 'sluice_xds_connected_proxies', help: 'Connected xDS streams by proxy mode and protocol.', labelNames: ['mode', 'protocol'], registers: [this.registry] });
  readonly pushes = new Counter({ name: 'sluice_xds_pushes_total', help: 'Discovery responses sent, by resource type.', labelNames: ['type'], registers: [this.registry] });
  readonly pushLatency = new Histogram({
    name: 'sluice_xds_push_latency_seconds',
    help: 'From a snapshot reaching the xDS cache to a proxy ACKing it.',
    labelNames: ['type'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly openStreams = new Gauge({ name: 'sluice_xds_open_streams', help: 'ADS streams held open, identified or not (bounded by --xds-max-streams).', registers: [this.registry] });
  readonly refusedStreams = new Counter({
    name: 'sluice_xds_streams_refused_total',
    help: 'xDS streams refused or cut off, by reason: stream-limit, subscription-limit, invalid-node, invalid-request, unauthenticated, internal-error.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly nacks = new Counter({ name: 'sluice_xds_nacks_total', help: 'Configurations rejected by proxies, by resource type.', labelNames: ['type'], registers: [this.registry] });
  /** Proxies whose latest response of a type is rejected right now (a counter alone hides whether it is still so). */
  readonly nackedProxies = new Gauge({
    name: 'sluice_xds_nacked_proxies',
    help: 'Connected proxies currently rejecting (NACKing) the latest configuration, by resource type (details in /readyz and /debug/syncz).',
    labelNames: ['type'],
    registers: [this.registry],
    collect: () => {
      this.nackedProxies.reset();
      for (const type of ['clusters', 'endpoints', 'listeners', 'routes']) this.nackedProxies.set({ type }, 0);
      for (const nack of this.#currentNacks()) this.nackedProxies.inc({ type: nack.type });
    },
  });
  #currentNacks: () => ReadonlyArray<{ readonly type: string }> = () => [];
  readonly configErrors = new Counter({ name: 'sluice_config_errors_total', help: 'Configuration loads rejected (the last good snapshot kept serving).', registers: [this.registry] });
  readonly snapshotInfo = new Gauge({ name: 'sluice_snapshot_info', help: 'The snapshot being served (value 1, version label).', labelNames: ['version'], registers: [this.registry] });
  readonly snapshotTimestamp = new Gauge({ name: 'sluice_snapshot_timestamp_seconds', help: 'When the served snapshot was installed.', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'sluice_process_' });
  }

  /** Keep sluice_xds_nacked_proxies computed from the live connections at each scrape. */
  trackNacks(current: () => ReadonlyArray<{ readonly type: string }>): void {
    this.#currentNacks = current;
  }

  setSnapshot(version: string): void {
    this.snapshotInfo.reset();
    this.snapshotInfo.set({ version }, 1);
    this.snapshotTimestamp.set(Date.now() / 1000);
  }
}
