import type { Command } from 'commander';
import { registerPlanned } from './not-yet.js';

export function registerWebhook(program: Command): void {
  registerPlanned(program, 'webhook', 'Run the sidecar-injection admission webhook', 5);
}
