import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration, parseSize } from '../../src/config/index.js';

describe('parseDuration', () => {
  const good: [string | number, number][] = [
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1_500],
    ['0s', 0],
    ['0', 0],
    ['30', 30_000],
    [' 30s ', 30_000],
    [30, 30_000],
    [1.5, 1_500],
    [0, 0],
  ];
  for (const [input, expected] of good) {
    it(`reads ${JSON.stringify(input)} as ${expected} ms`, () => {
      assert.equal(parseDuration(input), expected);
    });
  }

  const bad: (string | number)[] = [
    '',
    ' ',
    's',
    '30x',
    '30 s',
    '-1s',
    '1s30m',
    '1s1s',
    '1.s',
    '.5s',
    '30s junk',
    'Infinity',
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)} naming the input`, () => {
      assert.throws(() => parseDuration(input), { message: /invalid duration/ });
    });
  }
});

describe('parseSize', () => {
  const good: [string | number, number][] = [
    ['512Mi', 512 * 2 ** 20],
    ['2Gi', 2 * 2 ** 30],
    ['1Ki', 1024],
    ['1Ti', 2 ** 40],
    ['100M', 100_000_000],
    ['1G', 1_000_000_000],
    ['1k', 1_000],
    ['1K', 1_000],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1024', 1024],
    [4096, 4096],
    [0.5, 1],
  ];
  for (const [input, expected] of good) {
    it(`reads ${JSON.stringify(input)} as ${expected} bytes`, () => {
      assert.equal(parseSize(input), expected);
    });
  }

  const bad: (string | number)[] = ['', 'Mi', '512MB', '512 Mi', '1ki', '-1', '1X', -1, Number.NaN];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)} naming the input`, () => {
      assert.throws(() => parseSize(input), { message: /invalid size/ });
    });
  }
});
