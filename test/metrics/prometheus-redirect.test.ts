// A Prometheus URL that answers with a redirect to another origin (an SSO page or a moved server
// in front of it): neither the metric source nor `simulate --prometheus` follows it, so the
// configured headers (a tenant, an API key) and the bearer token never reach the other origin.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { PrometheusSource } from '../../src/metrics/index.js';
import { fetchPrometheusTrace } from '../../src/sim/index.js';
import { listen } from '../helpers/http-server.js';

/** redirecting is a server answering every request 307 to the same path on `elsewhere`'s origin. */
async function redirecting(t: TestContext) {
  // The other origin answers as a Prometheus would, so a followed redirect would be a success.
  const received: IncomingHttpHeaders[] = [];
  const elsewhere = await listen(
    t,
    createServer((req, res) => {
      received.push(req.headers);
      const data = req.url?.includes('query_range')
        ? { resultType: 'matrix', result: [{ metric: {}, values: [[0, '1']] }] }
        : { resultType: 'scalar', result: [0, '1'] };
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'success', data }));
    }),
  );
  let redirected = 0;
  const front = await listen(
    t,
    createServer((req, res) => {
      redirected++;
      res.writeHead(307, { location: `${elsewhere}${req.url}` }).end();
    }),
  );
  const tokenFile = join(tmpdir(), `scaleplane-redirect-token-${process.pid}`);
  await writeFile(tokenFile, 'bearer-s3cret\n');
  t.after(() => rm(tokenFile, { force: true }));
  const access = { url: front, bearerTokenFile: tokenFile, headers: { 'X-Api-Key': 'key-s3cret' } };
  return { elsewhere, received, access, redirects: () => redirected };
}

describe('Prometheus redirects', () => {
  it('the metric source does not follow a redirect to another origin: an error names where it points', async (t) => {
    const { elsewhere, received, access, redirects } = await redirecting(t);
    const source = new PrometheusSource({ ...access, query: 'vector(1)' });
    t.after(() => source.close());
    await assert.rejects(source.read(), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(
          `^prometheus at ${access.url}: HTTP 307 redirect to ${elsewhere}/api/v1/query, which is not followed: use the URL it points to instead$`,
        ),
      );
      return true;
    });
    assert.equal(redirects(), 1, 'one request to the configured URL');
    // Before: followed, and the other origin got `x-api-key: key-s3cret` (fetch drops only
    // Authorization on a redirect to another origin) and the read succeeded.
    assert.equal(received.length, 0, `the other origin got no request: ${JSON.stringify(received)}`);
  });

  it('simulate --prometheus does not follow one either', async (t) => {
    const { elsewhere, received, access } = await redirecting(t);
    await assert.rejects(
      fetchPrometheusTrace({ ...access, query: 'vector(1)', start: 0, end: 60 }),
      (err: Error) => {
        assert.match(
          err.message,
          new RegExp(`HTTP 307 redirect to ${elsewhere}/api/v1/query_range, which is not followed`),
        );
        return true;
      },
    );
    assert.equal(received.length, 0, `the other origin got no request: ${JSON.stringify(received)}`);
  });
});
