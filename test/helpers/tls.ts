import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** TestCertificate is a fresh self-signed certificate for 127.0.0.1 and its key, as files and PEM. */
export interface TestCertificate {
  dir: string;
  certPath: string;
  keyPath: string;
  /** The certificate, to trust as a CA in the test's clients. */
  cert: Buffer;
  remove(): Promise<void>;
}

/** makeCertificate runs openssl for a P-256 certificate valid one day for CN=localhost, IP 127.0.0.1. */
export async function makeCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'scaleplane-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  return {
    dir,
    certPath,
    keyPath,
    cert: await readFile(certPath),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * preHandshakeOutcome connects to a TLS listener and sends `bytes` in place of a ClientHello
 * (nothing: a slowloris at the handshake; plain HTTP: a client with the wrong scheme), and says
 * whether the server closed the connection within `boundMs` (`closed`) or still held it then
 * (`held`). The bound is far above the timeout under test, so the close itself is not timed.
 */
export async function preHandshakeOutcome(
  port: number,
  bytes: string,
  boundMs: number,
): Promise<'closed' | 'held'> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  // Read what comes, so the server's FIN is seen and 'close' follows.
  socket.resume();
  if (bytes !== '') socket.write(bytes);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      once(socket, 'close').then(() => 'closed' as const),
      new Promise<'held'>((resolve) => {
        timer = setTimeout(() => resolve('held'), boundMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}
