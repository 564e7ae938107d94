import type { Command } from 'commander';
import { registerPlanned } from './not-yet.js';

export function registerServe(program: Command): void {
  registerPlanned(program, 'serve', 'Run the control plane (xDS server and admin API)', 4);
}
