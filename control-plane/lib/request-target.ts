/**
 * The request target of an HTTP request our servers answer, as a URL, or
 * undefined when it is not an origin-form path (`/path?query`).
 *
 * `new URL(req.url, base)` reads `//host:port/` as a protocol-relative URL, so
 * `GET //`, `//a:99999/`, `//[` or `//@` make it throw; one such request used to
 * take a whole process down. The path is resolved against a fixed origin
 * instead, so it can never be read as an authority.
 */
export function parseRequestTarget(target: string | undefined): URL | undefined {
  if (target === undefined || !target.startsWith('/')) return undefined;
  try {
    return new URL(`http://request-target${target}`);
  } catch {
    return undefined;
  }
}
