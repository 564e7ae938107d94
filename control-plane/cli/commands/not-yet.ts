import type { Command } from 'commander';

/**
 * Subcommand names are fixed from the first release so scripts written today
 * keep working; until a command is delivered it says which issue brings it and
 * exits with status 2 rather than pretending to work.
 */
export function registerPlanned(program: Command, name: string, summary: string, issue: number): Command {
  return program
    .command(name)
    .description(`${summary} (planned: issue #${issue})`)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(() => {
      process.stderr.write(`sluice ${name}: not available yet in this build (planned in issue #${issue}).\n`);
      process.exitCode = 2;
    });
}
