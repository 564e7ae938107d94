import type { Command } from 'commander';
import { buildBootstrap } from '../../../webhook/bootstrap.js';

/**
 * `sluice gateway-bootstrap --gateway shop/edge`: the Envoy bootstrap of a
 * gateway Deployment (the sidecar's, with node metadata mode=gateway), as the
 * JSON examples/deploy/50-gateway.yaml passes in SLUICE_BOOTSTRAP.
 */
export function registerGatewayBootstrap(program: Command): void {
  program
    .command('gateway-bootstrap')
    .description('Print the Envoy bootstrap (JSON) of a gateway that serves a Gateway API Gateway')
    .requiredOption('-g, --gateway <namespace/name>', 'the Gateway it serves')
    .option('--control-plane <host:port>', 'xDS address of the control plane', 'sluice-xds.sluice-system.svc:15010')
    .option('--xds-ca-path <file>', 'connect over TLS, trusting the CA in this file inside the gateway pod (ca.crt of the Secret sluice-xds-tls, mounted), as the shipped control plane serves xDS')
    .option('--workload <name>', 'the gateway Deployment\'s name (node.cluster)', 'sluice-gateway')
    .action((opts: { gateway: string; controlPlane: string; workload: string; xdsCaPath?: string }) => {
      const bootstrap = buildBootstrap({
        // Expanded by the kubelet from the downward-API env vars of the pod.
        nodeId: '$(POD_NAME).$(POD_NAMESPACE)',
        namespace: '$(POD_NAMESPACE)',
        workload: opts.workload,
        labels: { app: opts.workload },
        controlPlaneAddress: opts.controlPlane,
        gateway: opts.gateway,
        ...(opts.xdsCaPath ? { controlPlaneTls: { caFile: opts.xdsCaPath } } : {}),
      });
      process.stdout.write(`${JSON.stringify(bootstrap)}\n`);
    });
}
