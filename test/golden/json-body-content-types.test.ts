/**
 * Which requests have their JSON body read for the user ID, decided the way
 * Envoy's json_to_metadata filter decides it (its request Content-Type is in
 * `allow_content_types`, compared exactly, or fully matches
 * `allow_content_types_regex`, RE2), on the filter configuration the
 * `userid-json-body` golden's sidecar actually receives.
 */
import { readFile } from 'node:fs/promises';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';

interface RequestRules { allow_content_types: string[]; allow_content_types_regex: { regex: string } }

async function requestRules(): Promise<RequestRules> {
  const listeners = JSON.parse(await readFile('test/golden/userid-json-body/out/portal-web-0.gov-portal.listeners.json', 'utf8')) as unknown;
  const found: RequestRules[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (record['@type'] === 'type.googleapis.com/envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata') found.push(record.request_rules as RequestRules);
      Object.values(record).forEach(walk);
    }
  };
  walk(listeners);
  expect(found.length).toBeGreaterThan(0);
  return found[0]!;
}

describe('JSON bodies as clients send them', () => {
  it.each([
    ['application/json', true],
    ['application/json;charset=UTF-8', true], // Spring's RestTemplate / Feign
    ['application/json; charset=utf-8', true], // Python requests, Go net/http clients
    ['Application/JSON', true],
    ['application/json ; charset=UTF-8', true],
    ['application/vnd.carrier.order+json', true],
    ['application/problem+json; charset=utf-8', true],
    ['text/plain', false],
    ['application/x-www-form-urlencoded', false],
    ['multipart/form-data; boundary=x', false],
    ['application/jsonp', false],
    ['application/json-seq', false],
    ['', false], // no Content-Type: the body is not read
  ])('Content-Type %j → body read: %s', async (contentType, read) => {
    const rules = await requestRules();
    const decided = rules.allow_content_types.includes(contentType) || RE2JS.compile(rules.allow_content_types_regex.regex).matches(contentType);
    expect(decided).toBe(read);
  });
});
