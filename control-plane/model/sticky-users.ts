/**
 * Sticky splits by user ID: which version a user lands on when a route splits
 * by weight.
 *
 * A user's number is the last two decimal digits of the ID (00–99). A split's
 * destinations own consecutive ranges of those numbers in the order the route
 * lists them — the first destination the lowest numbers — so weights 70/30
 * give v1 00–69 and v2 70–99. Three properties follow, and are why this is not
 * a hash:
 * - every proxy, replica and restart agrees, with no shared state;
 * - as weights move one way (a canary's 10 → 30 → 60 %), a user changes
 *   version at most once and never moves back;
 * - the choice is a plain regular expression on the ID, which Envoy (header or
 *   JSON-body metadata) and every gRPC client (header, gRFC A28) can match.
 * The cost: IDs must end in two digits to be sticky (others are split per
 * request), and the split is even only when those digits are.
 */
import { sameUserIdSource, type Route, type UserIdSource, type WeightedDestination } from './traffic.js';

/** User numbers run 0 ≤ n < userNumbers; weights are percents, so one number per percent. */
export const userNumbers = 100;

export interface UserRange {
  readonly version: string;
  /** First number owned. */
  readonly from: number;
  /** One past the last number owned. */
  readonly to: number;
}

/** The number ranges a split's destinations own; destinations with weight 0 own none. */
export function userRanges(destinations: readonly WeightedDestination[]): UserRange[] {
  const ranges: UserRange[] = [];
  let from = 0;
  for (const destination of destinations) {
    if (destination.weight <= 0) continue;
    const to = Math.min(userNumbers, from + destination.weight);
    ranges.push({ version: destination.version, from, to });
    from = to;
  }
  return ranges;
}

const digitClass = (low: number, high: number): string => (low === high ? String(low) : `[${low}-${high}]`);

/**
 * An RE2 pattern matching (as a whole value, as Envoy and gRPC match) an ID
 * whose last two digits are in [from, to). 70–99 gives `.*[7-9][0-9]`; 10–34
 * gives `.*(?:[1-2][0-9]|3[0-4])`.
 */
export function userRangePattern(from: number, to: number): string {
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= userNumbers)) {
    throw new RangeError(`user number range [${from}, ${to}) is not within [0, ${userNumbers})`);
  }
  const parts: string[] = [];
  let n = from;
  while (n < to) {
    const tens = Math.floor(n / 10);
    if (n % 10 === 0 && n + 10 <= to) {
      // A run of whole decades: 30–59 is [3-5][0-9].
      const lastTens = Math.floor(to / 10) - 1;
      parts.push(`${digitClass(tens, lastTens)}[0-9]`);
      n = (lastTens + 1) * 10;
    } else {
      const last = Math.min(to, (tens + 1) * 10) - 1;
      parts.push(`${tens}${digitClass(n % 10, last % 10)}`);
      n = last + 1;
    }
  }
  return parts.length === 1 ? `.*${parts[0]}` : `.*(?:${parts.join('|')})`;
}

/** The user number of an ID, or undefined when it does not end in two digits (such requests split per request). */
export function userNumber(userId: string): number | undefined {
  const match = /([0-9]{2})$/.exec(userId);
  return match ? Number(match[1]) : undefined;
}

/**
 * Where a policy's sticky splits read the user ID: `spec.userId` if given,
 * else every distinct source its routes match on, in order of appearance.
 * Empty (per-request splits) when the policy says `stickyBy: request` or no
 * user ID is known.
 */
export function stickySources(stickyBy: 'userId' | 'request' | undefined, declared: UserIdSource | undefined, routes: readonly Route[]): UserIdSource[] {
  if (stickyBy === 'request') return [];
  const sources: UserIdSource[] = declared ? [declared] : [];
  if (!declared) {
    for (const route of routes) {
      const source = route.match.userId?.source;
      if (source && !sources.some((known) => sameUserIdSource(known, source))) sources.push(source);
    }
  }
  return sources;
}
