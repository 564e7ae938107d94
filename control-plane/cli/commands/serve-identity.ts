/**
 * `sluice serve`'s mesh-CA flags → the CA and the identity proofs it accepts.
 * Loaded only when a CA is asked for, so a plain YAML set-up does not pay for it.
 */
import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseDuration } from '../../lib/duration.js';

export interface IdentityFlags {
  caDir?: string;
  caSecret?: string;
  caCert?: string;
  caKey?: string;
  caChain?: string;
  workloadCertTtl: string;
  identityTrustNodeMetadata?: boolean;
  trustDomain: string;
  xdsClientCa?: string;
}

/** Whether any flag asks for the mesh CA. */
export const wantsCertificateAuthority = (flags: IdentityFlags) => Boolean(flags.caDir || flags.caSecret || flags.caCert);

async function pem(flag: string, file: string): Promise<string> {
  return readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${flag} ${file}: ${error.code ?? error.message}`);
  });
}

export async function workloadIdentityOptions(flags: IdentityFlags, kubeConfig: KubeConfig | undefined) {
  const { CertificateAuthority } = await import('../../identity/certificate-authority.js');
  const { CaDirectoryStore, CaSecretStore } = await import('../../identity/ca-store.js');
  const { ClientCertificateVerifier, NodeMetadataVerifier, TokenReviewVerifier } = await import('../../identity/workload-identity.js');
  if ([flags.caDir, flags.caSecret, flags.caCert].filter(Boolean).length > 1) throw new Error('--ca-dir, --ca-secret and --ca-cert are alternatives: give one');
  if (Boolean(flags.caCert) !== Boolean(flags.caKey)) throw new Error('--ca-cert and --ca-key go together');
  if (flags.caSecret && !kubeConfig) throw new Error('--ca-secret needs --kubeconfig');
  const ttlMs = parseDuration(flags.workloadCertTtl);
  if (ttlMs === undefined || ttlMs < 10_000) throw new Error(`--workload-cert-ttl ${JSON.stringify(flags.workloadCertTtl)} must be a duration of at least 10s, such as 24h`);
  let store;
  if (flags.caSecret) {
    const [namespace, name] = flags.caSecret.split('/');
    if (!namespace || !name) throw new Error(`--ca-secret ${JSON.stringify(flags.caSecret)} must be <namespace>/<name>`);
    store = new CaSecretStore(kubeConfig!, namespace, name);
  } else if (flags.caDir) {
    store = new CaDirectoryStore(flags.caDir);
  }
  const intermediate = flags.caCert
    ? { certificatePem: await pem('--ca-cert', flags.caCert), privateKeyPem: await pem('--ca-key', flags.caKey!), ...(flags.caChain ? { chainPem: await pem('--ca-chain', flags.caChain) } : {}) }
    : undefined;
  const authority = await CertificateAuthority.create({ trustDomain: flags.trustDomain, ...(intermediate ? { intermediate } : {}), ...(store ? { store } : {}) }).catch((error: Error) => {
    // Name the flags and files the user gave: the CA's own message says what is wrong with them.
    const given = flags.caCert ? `--ca-cert ${flags.caCert} / --ca-key ${flags.caKey}` : flags.caDir ? `--ca-dir ${flags.caDir}` : `--ca-secret ${flags.caSecret}`;
    throw new Error(`${given}: ${error.message}`, { cause: error });
  });
  const verifiers = [
    ...(flags.xdsClientCa ? [new ClientCertificateVerifier()] : []),
    ...(kubeConfig ? [new TokenReviewVerifier(kubeConfig)] : []),
    ...(flags.identityTrustNodeMetadata ? [new NodeMetadataVerifier()] : []),
  ];
  return { authority, verifiers, certificateTtlMs: ttlMs };
}
