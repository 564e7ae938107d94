/**
 * The console's page is compiled in from control-plane/console/assets/ (so a
 * dist/-only image serves it): the generated module must match the assets.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedPagePath, renderPageModule } from '../../control-plane/console/generate-page.js';

describe('the console page module', () => {
  it('matches control-plane/console/assets/ (regenerate with `npx tsx control-plane/console/generate-page.ts`)', () => {
    expect(readFileSync(generatedPagePath, 'utf8')).toBe(renderPageModule());
  });
});
