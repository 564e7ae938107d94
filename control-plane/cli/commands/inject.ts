import type { Command } from 'commander';
import { registerPlanned } from './not-yet.js';

export function registerInject(program: Command): void {
  registerPlanned(program, 'inject', 'Add the Sluice sidecar to Kubernetes manifests, offline', 5);
}
