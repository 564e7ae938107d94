/**
 * Run `sluice <command>` in this process (the same commander program the
 * binary builds), capturing what it prints: a spawned `tsx` costs seconds
 * per call on a loaded CI machine.
 */
import { Command } from 'commander';
import { vi } from 'vitest';
import { registerStatus } from '../../control-plane/cli/commands/status.js';
import { registerTranslate } from '../../control-plane/cli/commands/translate.js';
import { registerValidate } from '../../control-plane/cli/commands/validate.js';

export async function sluiceInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = new Command('sluice').exitOverride();
  registerValidate(program);
  registerTranslate(program);
  registerStatus(program);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true));
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'sluice', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.exitCode = previous;
    out.mockRestore();
    err.mockRestore();
  }
}
