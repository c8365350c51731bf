import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { natsServer, natsServers, redactCredentials, splitCredentials } from '../../src/metrics/index.js';

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

describe('natsServer', () => {
  // As the NATS CLI and Go client read a URL: user:password (a colon, even with nothing after it)
  // or a token, percent-decoded; the JavaScript client ignores them in the URL.
  for (const [text, server, auth] of [
    ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4222', {}],
    ['127.0.0.1:4222', '127.0.0.1:4222', {}],
    ['nats://u:p%40ss@h:4222', 'nats://h:4222', { user: 'u', pass: 'p@ss' }],
    ['u:p@h:4222', 'nats://h:4222', { user: 'u', pass: 'p' }],
    ['tls://u:@h:4222', 'tls://h:4222', { user: 'u', pass: '' }],
    ['nats://s3cret@h:4222', 'nats://h:4222', { token: 's3cret' }],
  ] as const) {
    it(text, () => {
      assert.deepEqual(natsServer(text), { server, auth });
    });
  }
  it('bad percent-encoding: an error that does not hold the password', () => {
    assert.throws(
      () => natsServer('nats://u:s3cret%zz@h:4222'),
      (e: Error) => /percent-encoding/.test(e.message) && !e.message.includes('s3cret'),
    );
  });
});

describe('natsServers', () => {
  // A comma-separated list, as the NATS CLI's --server takes a cluster's servers: every entry for
  // the client, one set of credentials for all of them.
  for (const [text, servers, auth] of [
    ['nats://127.0.0.1:4222', ['nats://127.0.0.1:4222'], {}],
    ['nats://a:4222,nats://b:4222', ['nats://a:4222', 'nats://b:4222'], {}],
    ['nats://u:p@a:4222, b:4222', ['nats://a:4222', 'b:4222'], { user: 'u', pass: 'p' }],
    ['nats://t@a:4222,nats://t@b:4222', ['nats://a:4222', 'nats://b:4222'], { token: 't' }],
  ] as const) {
    it(text, () => {
      assert.deepEqual(natsServers(text), { servers, auth });
    });
  }
  for (const [text, message] of [
    ['nats://a:4222,', /entry 2 of 2 .* is empty/],
    ['nats://a:4222,nats://[b', /entry 2 of 2 .*: not a URL/],
    ['nats://u:p@a:4222,nats://u:q@b:4222', /entries 1 and 2 .* different credentials/],
  ] as const) {
    it(`error: ${text}`, () => {
      assert.throws(() => natsServers(text), message);
    });
  }
});
