/**
 * Certificates per workload identity (namespace/service account): issued on
 * first demand, shared by that identity's proxies (never across identities),
 * and re-issued when half their life is gone, so a proxy always holds one
 * with hours left and a control-plane outage shorter than that is harmless.
 * Every subscriber of an identity is told of a rotation and re-pushes SDS;
 * Envoy and gRPC switch certificates for new handshakes while open
 * connections keep going.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import type { CertificateAuthority, WorkloadCertificate } from './certificate-authority.js';
import type { WorkloadIdentity } from './workload-identity.js';

export interface WorkloadCertificatesOptions {
  readonly authority: CertificateAuthority;
  readonly logger: Logger;
  /** Certificate lifetime (default 24 h). */
  readonly ttlMs?: number;
  readonly registry?: Registry;
  readonly now?: () => number;
}

/** What status and the console show about an identity's certificate (no key material). */
export interface IssuedCertificateStatus {
  readonly spiffeId: string;
  readonly serialNumber: string;
  readonly notAfter: string;
  readonly rotations: number;
  readonly subscribers: number;
}

type Listener = (certificate: WorkloadCertificate) => void;

interface Entry {
  current?: WorkloadCertificate;
  pending?: Promise<WorkloadCertificate>;
  rotations: number;
  listeners: Set<Listener>;
  timer?: NodeJS.Timeout;
}

const keyOf = (identity: WorkloadIdentity) => `${identity.namespace}/${identity.serviceAccount}`;

export class WorkloadCertificates {
  readonly authority: CertificateAuthority;
  readonly ttlMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #issued: Counter<'reason'>;
  readonly #failed: Counter<'reason'>;

  constructor(options: WorkloadCertificatesOptions) {
    this.authority = options.authority;
    this.ttlMs = options.ttlMs ?? 24 * 3_600_000;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    const registers = options.registry ? [options.registry] : [];
    this.#issued = new Counter({ name: 'sluice_workload_certificates_issued_total', help: 'Workload certificates signed by the mesh CA, by reason: new (first for an identity) or rotation.', labelNames: ['reason'], registers });
    this.#failed = new Counter({ name: 'sluice_workload_certificates_failed_total', help: 'Certificate requests refused or failed, by reason: unproven (no valid proof of a service account) or signing.', labelNames: ['reason'], registers });
    const expiry: Gauge<'certificate'> = new Gauge({
      name: 'sluice_certificate_expiry_seconds',
      help: 'When certificates expire (Unix time): certificate="ca" the mesh CA, certificate="earliest-workload" the first of the workload certificates held.',
      labelNames: ['certificate'],
      registers,
      collect: () => {
        expiry.reset();
        expiry.set({ certificate: 'ca' }, this.authority.expiresAt.getTime() / 1000);
        const held = [...this.#entries.values()].flatMap((entry) => (entry.current ? [entry.current.notAfter.getTime()] : []));
        if (held.length > 0) expiry.set({ certificate: 'earliest-workload' }, Math.min(...held) / 1000);
      },
    });
  }

  /** Count a refused request (the proof failed): the proxy gets no certificate. */
  recordUnproven(): void {
    this.#failed.inc({ reason: 'unproven' });
  }

  /** The identity's current certificate, issued if it has none or its renewal time has passed. */
  async certificateFor(identity: WorkloadIdentity): Promise<WorkloadCertificate> {
    const entry = this.#entry(identity);
    if (entry.current && !this.#dueForRenewal(entry.current)) return entry.current;
    return this.#issue(identity, entry);
  }

  /** Be told of every new certificate of `identity` (rotations); returns the unsubscribe function. */
  subscribe(identity: WorkloadIdentity, listener: Listener): () => void {
    const entry = this.#entry(identity);
    entry.listeners.add(listener);
    this.#schedule(identity, entry);
    return () => {
      entry.listeners.delete(listener);
      if (entry.listeners.size === 0) {
        clearTimeout(entry.timer);
        entry.timer = undefined;
      }
    };
  }

  status(): IssuedCertificateStatus[] {
    return [...this.#entries.values()]
      .filter((entry) => entry.current)
      .map((entry) => ({ spiffeId: entry.current!.spiffeId, serialNumber: entry.current!.serialNumber, notAfter: entry.current!.notAfter.toISOString(), rotations: entry.rotations, subscribers: entry.listeners.size }))
      .sort((a, b) => a.spiffeId.localeCompare(b.spiffeId));
  }

  stop(): void {
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
  }

  #entry(identity: WorkloadIdentity): Entry {
    const key = keyOf(identity);
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { rotations: 0, listeners: new Set() };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  #renewalAt(certificate: WorkloadCertificate): number {
    const start = certificate.issuedAt.getTime();
    return start + (certificate.notAfter.getTime() - start) / 2;
  }

  #dueForRenewal(certificate: WorkloadCertificate): boolean {
    return this.#now() >= this.#renewalAt(certificate);
  }

  #issue(identity: WorkloadIdentity, entry: Entry): Promise<WorkloadCertificate> {
    // Concurrent requests of one identity (a Deployment's pods starting together) share one signing.
    entry.pending ??= this.authority
      .issue(identity.namespace, identity.serviceAccount, this.ttlMs)
      .then((certificate) => {
        const rotation = entry.current !== undefined;
        if (rotation) entry.rotations++;
        entry.current = certificate;
        this.#issued.inc({ reason: rotation ? 'rotation' : 'new' });
        this.#logger.info({ spiffeId: certificate.spiffeId, serialNumber: certificate.serialNumber, notAfter: certificate.notAfter.toISOString(), rotation }, rotation ? 'workload certificate rotated' : 'workload certificate issued');
        for (const listener of entry.listeners) listener(certificate);
        this.#schedule(identity, entry);
        return certificate;
      })
      .catch((error: unknown) => {
        this.#failed.inc({ reason: 'signing' });
        this.#logger.error({ err: error, identity: keyOf(identity) }, 'cannot sign a workload certificate');
        throw error;
      })
      .finally(() => {
        entry.pending = undefined;
      });
    return entry.pending;
  }

  /** While anyone subscribes, re-issue at half-life (a failure is retried in a minute). */
  #schedule(identity: WorkloadIdentity, entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.listeners.size === 0 || !entry.current) return;
    const delay = Math.max(0, this.#renewalAt(entry.current) - this.#now());
    entry.timer = setTimeout(() => {
      this.#issue(identity, entry).catch(() => {
        entry.timer = setTimeout(() => this.#schedule(identity, entry), 60_000);
        entry.timer.unref();
      });
    }, Math.min(delay, 2 ** 31 - 1));
    entry.timer.unref();
  }
}
