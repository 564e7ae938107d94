/**
 * `sluice cert-agent`: keeps a proxyless gRPC workload's certificate files
 * current from the control plane's SDS (identity/certificate-file-agent.ts).
 * Run it next to the application (a sidecar container without a proxy); the
 * application's xDS bootstrap names the files in `certificate_providers`.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { credentials } from '@grpc/grpc-js';
import { CertificateFileAgent } from '../../identity/certificate-file-agent.js';
import { rootLogger } from '../../log/logger.js';

interface AgentOptions {
  xds: string;
  nodeId: string;
  namespace: string;
  tokenFile?: string;
  dir: string;
  xdsCa?: string;
  printBootstrap?: boolean;
}

export function registerCertAgent(program: Command): void {
  program
    .command('cert-agent')
    .description('Keep a proxyless gRPC workload\'s mTLS certificate files current from the control plane (SDS), for the bootstrap\'s file_watcher certificate providers.')
    .requiredOption('--xds <host:port>', 'the control plane\'s xDS address')
    .requiredOption('--node-id <id>', 'this workload\'s node id, e.g. <pod>.<namespace>')
    .requiredOption('--namespace <namespace>', 'this workload\'s namespace')
    .option('--token-file <file>', 'projected service-account token with audience sluice (re-read at each reconnect)', '/var/run/secrets/tokens/sluice-token')
    .option('--dir <dir>', 'where cert.pem, key.pem and ca.pem are kept', '/var/run/sluice/certs')
    .option('--xds-ca <file>', 'CA of the control plane\'s xDS TLS certificate (without it the xDS channel is plaintext)')
    .option('--print-bootstrap', 'print the certificate_providers block for the application\'s xDS bootstrap, then run')
    .action(async (options: AgentOptions) => {
      const logger = rootLogger().child({ component: 'cert-agent' });
      const agent = new CertificateFileAgent({
        xdsAddress: options.xds,
        nodeId: options.nodeId,
        namespace: options.namespace,
        tokenFile: options.tokenFile,
        directory: options.dir,
        ...(options.xdsCa ? { credentials: credentials.createSsl(await readFile(options.xdsCa)) } : {}),
        logger,
      });
      if (options.printBootstrap) process.stdout.write(`${JSON.stringify({ certificate_providers: agent.certificateProviders() }, null, 2)}\n`);
      const stop = () => {
        agent.stop();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      await agent.start();
    });
}
