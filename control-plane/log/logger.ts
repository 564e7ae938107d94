/**
 * Structured logging: one JSON object a line, with levels.
 *
 * pino is used because it is the de-facto structured logger for Node: fast
 * (asynchronous, no string formatting on the hot path), JSON by default, and
 * child loggers carry context (component, node id) without repeating it.
 */
import { pino, destination as pinoDestination, stdTimeFunctions, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

const levelFromEnv = (process.env.SLUICE_LOG_LEVEL ?? 'info') as LevelWithSilent;

let root: Logger = createLogger(levelFromEnv);

/** Create a logger writing JSON lines to stderr (stdout is kept for command output). */
export function createLogger(level: LevelWithSilent = 'info', destination: NodeJS.WritableStream | number = 2): Logger {
  return pino(
    {
      level,
      base: { service: 'sluice' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    typeof destination === 'number' ? pinoDestination({ fd: destination, sync: true }) : destination,
  );
}

/** The process-wide logger. Components take a child: `rootLogger().child({ component: 'xds' })`. */
export function rootLogger(): Logger {
  return root;
}

/** Replace the process-wide logger (the CLI does this once from --log-level; tests silence it). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}
