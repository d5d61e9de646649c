// The pure parts of client key resolution: Cache-Control and JWKS hygiene.
import { cacheSeconds, usableKeys } from '../../../src/auth/client-keys.js';

describe('cacheSeconds', () => {
  it.each<[string | null, number]>([
    [null, 300],
    ['max-age=60', 60],
    ['public, max-age=120', 120],
    ['max-age=999999', 3600],
    ['no-store', 0],
    ['no-cache, max-age=60', 0],
    ['private', 300],
  ])('%s → %d s', (header, seconds) => {
    expect(cacheSeconds(header, 300, 3600)).toBe(seconds);
  });
});

describe('usableKeys', () => {
  it('drops private, symmetric, kid-less and duplicate-kid keys', () => {
    const { keys, dropped } = usableKeys({
      keys: [
        { kty: 'EC', kid: 'a', crv: 'P-384', x: 'x', y: 'y' },
        { kty: 'EC', kid: 'b', crv: 'P-384', x: 'x', y: 'y', d: 'secret' },
        { kty: 'oct', kid: 'c', k: 'secret' },
        { kty: 'RSA', n: 'n', e: 'AQAB' },
        { kty: 'RSA', kid: 'dup', n: 'n', e: 'AQAB' },
        { kty: 'RSA', kid: 'dup', n: 'm', e: 'AQAB' },
      ],
    });
    expect(keys.map((k) => k.kid)).toEqual(['a']);
    expect(dropped).toBe(5);
  });
});
