import { connect } from 'node:net';

/** RawAnswer is what a server did with raw bytes: the status of its first response, or nothing. */
export interface RawAnswer {
  /** Status code of the first response line, or undefined when the server closed without one. */
  status: number | undefined;
  /** Everything the server sent (bounded). */
  text: string;
  /** The server closed the connection (as opposed to the client's deadline passing). */
  closed: boolean;
}

/**
 * sendRaw writes `bytes` on a fresh TCP connection, half-closes unless `keepOpen`, and collects the
 * answer until the server closes or `timeoutMs` passes. For inputs no HTTP client library would send.
 */
export function sendRaw(
  port: number,
  bytes: string | Buffer,
  options: { timeoutMs?: number; keepOpen?: boolean } = {},
): Promise<RawAnswer> {
  const { timeoutMs = 5_000, keepOpen = false } = options;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : undefined, text, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (!keepOpen) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      if (text.length < 65_536) text += chunk.toString('latin1');
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}
