import type { Command } from 'commander';
import { registerPlanned } from './not-yet.js';

export function registerCanary(program: Command): void {
  registerPlanned(program, 'canary', 'Inspect and control canary releases', 7);
}
