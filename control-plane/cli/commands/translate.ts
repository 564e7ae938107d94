import type { Command } from 'commander';
import { registerPlanned } from './not-yet.js';

export function registerTranslate(program: Command): void {
  registerPlanned(program, 'translate', 'Print the Envoy configuration a proxy would receive', 3);
}
