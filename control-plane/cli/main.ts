#!/usr/bin/env node
/**
 * `sluice` — the command-line entry point. Each subcommand lives in its own
 * file under ./commands and registers itself on the program.
 *
 * commander is used because it is the most widely used, well-maintained CLI
 * parser for Node, generates `--help` for every subcommand, and needs no
 * runtime dependencies.
 */
import { Command } from 'commander';
import { registerValidate } from './commands/validate.js';
import { registerServe } from './commands/serve.js';
import { registerTranslate } from './commands/translate.js';
import { registerInject } from './commands/inject.js';
import { registerWebhook } from './commands/webhook.js';
import { registerStatus } from './commands/status.js';
import { registerCanary } from './commands/canary.js';
import { registerGatewayBootstrap } from './commands/gateway-bootstrap.js';
import { registerCertAgent } from './commands/cert-agent.js';
import { createLogger, setRootLogger } from '../log/logger.js';

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice: a service-mesh control plane for traffic policy, sidecar injection and telemetry-driven canaries.')
    .option('--log-level <level>', 'trace | debug | info | warn | error | silent', process.env.SLUICE_LOG_LEVEL ?? 'info')
    .showHelpAfterError()
    .hook('preAction', (thisCommand) => {
      const level = thisCommand.opts<{ logLevel: string }>().logLevel;
      setRootLogger(createLogger(level as 'info'));
    });
  registerValidate(program);
  registerServe(program);
  registerTranslate(program);
  registerInject(program);
  registerWebhook(program);
  registerStatus(program);
  registerGatewayBootstrap(program);
  registerCanary(program);
  registerCertAgent(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    process.stderr.write(`sluice: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
