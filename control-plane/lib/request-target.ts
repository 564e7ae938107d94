/**
 * The request target of an HTTP request our servers answer, as a URL, or
 * undefined when it is not an origin-form path (`/path?query`).
 *
 * `new URL(req.url, base)` reads `//host:port/` as a protocol-relative URL, so
 * `GET //`, `//a:99999/`, `//[` or `//@` make it throw; one such request used to
 * take a whole process down. Such targets are refused (400), and a path is
 * resolved against a fixed origin, so it can never be read as an authority.
 */
export function parseRequestTarget(target: string | undefined): URL | undefined {
  if (target === undefined) return undefined;
  try {
    // Absolute-form (`http://host/path`), which HTTP/1.1 servers must accept: only its path and query count.
    if (/^https?:\/\//i.test(target)) {
      const absolute = new URL(target);
      return new URL(`http://request-target${absolute.pathname}${absolute.search}`);
    }
    // `//…` is where parsers disagree (path or authority?); no route starts with it.
    if (!target.startsWith('/') || target.startsWith('//')) return undefined;
    return new URL(`http://request-target${target}`);
  } catch {
    return undefined;
  }
}
