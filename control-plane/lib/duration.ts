/**
 * Durations as users write them (Go/Kubernetes syntax: 250ms, 3s, 1m30s, 1.5h)
 * and as Envoy wants them (proto3 JSON `Duration`: "1.500s").
 */
const unitMilliseconds: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const durationPattern = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$/;
const durationPart = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!durationPattern.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(durationPart)) {
    total += Number(amount) * unitMilliseconds[unit!]!;
  }
  // Envoy durations have nanosecond precision but nobody configures below 1 ms.
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Proto3 JSON form of a Duration: seconds with up to 3 decimals, e.g. "0.250s". */
export function toProtoDuration(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  const rest = milliseconds % 1000;
  return rest === 0 ? `${seconds}s` : `${seconds}.${String(rest).padStart(3, '0')}s`;
}

export const durationHint = 'a duration such as 250ms, 3s, 1m30s or 1h';
