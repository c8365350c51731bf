// A bounded load generator for the demo: N concurrent clients for D seconds against 127.0.0.1.
// Usage: node examples/demo/load.js [--url URL] [--concurrency N] [--duration SECONDS]
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080/work?ms=20' },
    concurrency: { type: 'string', default: '8' },
    duration: { type: 'string', default: '60' },
  },
});
const url = new URL(values.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
  console.error(`refusing to send load to ${url.hostname}: only loopback targets are allowed`);
  process.exit(2);
}
const concurrency = Number(values.concurrency);
const deadline = Date.now() + Number(values.duration) * 1000;
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
