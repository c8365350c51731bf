import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
