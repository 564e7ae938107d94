/**
 * Enough of Helm's template language to render examples/helm/sluice without a
 * `helm` binary (none is packaged for npm or Debian): `{{ .Values.a.b }}` and
 * `{{ .Release.Namespace }}`, with Go's `{{-`/`-}}` whitespace trimming. Any
 * other action, and a value missing from values.yaml, is an error naming the
 * file and line — so the chart cannot start using syntax this renderer would
 * silently misread.
 */
export interface HelmContext {
  readonly Values: Record<string, unknown>;
  readonly Release: { readonly Namespace: string; readonly Name: string };
}

export class HelmTemplateError extends Error {}

export function renderHelmTemplate(text: string, context: HelmContext, file = '<template>'): string {
  let out = '';
  let at = 0;
  for (;;) {
    const open = text.indexOf('{{', at);
    if (open < 0) return out + text.slice(at);
    const close = text.indexOf('}}', open);
    const line = text.slice(0, open).split('\n').length;
    if (close < 0) throw new HelmTemplateError(`${file}:${line}: unclosed {{`);
    let literal = text.slice(at, open);
    let action = text.slice(open + 2, close);
    let next = close + 2;
    if (action.startsWith('-')) {
      literal = literal.replace(/\s+$/, '');
      action = action.slice(1);
    }
    if (action.endsWith('-')) {
      action = action.slice(0, -1);
      while (next < text.length && /\s/.test(text[next]!)) next++;
    }
    out += literal + String(evaluate(action.trim(), context, `${file}:${line}`));
    at = next;
  }
}

function evaluate(expression: string, context: HelmContext, where: string): string | number | boolean {
  const path = /^\.((?:Values|Release)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/.exec(expression)?.[1];
  if (!path) throw new HelmTemplateError(`${where}: unsupported template action {{ ${expression} }}`);
  let value: unknown = context;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !(part in value)) throw new HelmTemplateError(`${where}: .${path} is not set (values.yaml)`);
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new HelmTemplateError(`${where}: .${path} is not a scalar`);
  return value;
}
