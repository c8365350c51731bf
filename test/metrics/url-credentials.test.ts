import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactCredentials, splitCredentials } from '../../src/metrics/index.js';

describe('splitCredentials', () => {
  const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString('base64')}`;
  for (const [text, url, authorization, shown] of [
    ['http://127.0.0.1:9090', 'http://127.0.0.1:9090', undefined, 'http://127.0.0.1:9090'],
    ['http://u:p@h:9090/prom', 'http://h:9090/prom', basic('u:p'), 'http://u:***@h:9090/prom'],
    // Percent-encoded as a URL must have them; decoded into the header, as curl and Grafana do.
    ['https://u%40x:p%3Aw@h/', 'https://h/', basic('u@x:p:w'), 'https://u%40x:***@h/'],
    ['http://u@h', 'http://h/', basic('u:'), 'http://u@h'],
  ] as const) {
    it(text, () => {
      const got = splitCredentials(text);
      assert.equal(got.url, url);
      assert.equal(got.headers.authorization, authorization);
      assert.equal(got.shown, shown);
    });
  }
  it('bad percent-encoding: an error that does not hold the password', () => {
    assert.throws(
      () => splitCredentials('http://u:s3cret%zz@h'),
      (e: Error) => /percent-encoding/.test(e.message) && !e.message.includes('s3cret'),
    );
  });
  it('redactCredentials also covers a password holding @ and a string that is no URL', () => {
    assert.equal(redactCredentials('http://u:a@b@h:1/x@y'), 'http://u:***@h:1/x@y');
    assert.equal(redactCredentials('http://u:p w@h:notaport'), 'http://u:***@h:notaport');
  });
});
