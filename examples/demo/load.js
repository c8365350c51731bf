// A bounded load generator for the demo: N concurrent clients for D seconds against 127.0.0.1.
// Usage: node examples/demo/load.js [--url URL] [--concurrency N] [--duration SECONDS]
import { parseArgs } from 'node:util';

const USAGE = 'usage: node examples/demo/load.js [--url URL] [--concurrency N] [--duration SECONDS]';

/** fail ends a bad invocation with one line and the usage, exit 2, instead of a stack trace. */
function fail(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080/work?ms=20' },
      concurrency: { type: 'string', default: '8' },
      duration: { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail(err.message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
let url;
try {
  url = new URL(values.url);
} catch {
  fail(`--url: not a URL: ${values.url}`);
}
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
  console.error(`refusing to send load to ${url.hostname}: only loopback targets are allowed`);
  process.exit(2);
}
// A typo here used to start no client (NaN) and report "done: ok 0" at once.
const concurrency = Number(values.concurrency);
if (!(Number.isInteger(concurrency) && concurrency >= 1))
  fail(`--concurrency: expected a whole number of clients, at least 1, got "${values.concurrency}"`);
const duration = Number(values.duration);
if (!(Number.isFinite(duration) && duration > 0))
  fail(`--duration: expected seconds > 0, got "${values.duration}"`);
const deadline = Date.now() + duration * 1000;
const counts = { ok: 0, failed: 0 };

async function client() {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      res.ok ? counts.ok++ : counts.failed++;
    } catch {
      counts.failed++;
    }
  }
}

const report = setInterval(() => console.log(`ok ${counts.ok}  failed ${counts.failed}`), 5000);
await Promise.all(Array.from({ length: concurrency }, client));
clearInterval(report);
console.log(`done: ok ${counts.ok}  failed ${counts.failed}`);
