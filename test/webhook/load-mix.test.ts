import { describe, expect, it } from 'vitest';
import { buildMix, readMix } from '../load/webhook-admission.driver.js';

describe('load scenario', () => {
  it('the request mix shared by the k6 script and the Node driver is current (regenerate with --write-requests)', async () => {
    expect(await readMix()).toEqual(buildMix());
  });
});
