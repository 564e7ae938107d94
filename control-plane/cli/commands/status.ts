import type { Command } from 'commander';
import { registerPlanned } from './not-yet.js';

export function registerStatus(program: Command): void {
  registerPlanned(program, 'status', 'Show every connected proxy and its sync state', 4);
}
