/**
 * holdingApi is a stand-in for the control API: a real HTTP server on 127.0.0.1 that takes each
 * request and never answers it, as a controller stuck on its state store does, except the paths
 * given an answer (the MCP server's token check, TOKEN_CHECK_PATH, from the start); a path given to
 * beginAnswering() gets the head of an answer and the first bytes of its body, never the rest. A test
 * awaits each held request with next(), then what becomes of its connection.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TOKEN_CHECK_PATH } from '../../src/mcp/index.js';

/** HeldRequest is one request the stand-in took and holds. */
export interface HeldRequest {
  method: string;
  /** The request target: path and query. */
  url: string;
  /** Settles when the request's connection closes: the client gave it up (the stand-in never does). */
  closed: Promise<void>;
}

/** HoldingApi is a running holdingApi. */
export interface HoldingApi {
  /** Base URL, for --api. */
  base: string;
  /** next is the next request held (one already taken and not yet handed out, or the next to come). */
  next(): Promise<HeldRequest>;
  /** received is how many requests the stand-in has held so far. */
  received(): number;
  /** beginAnswering makes the stand-in answer `target` with a 202 head and part of a body, then hold it. */
  beginAnswering(target: string): void;
  /** answer makes the stand-in answer `target` (path and query) with 200 and `json` from now on. */
  answer(target: string, json: unknown): void;
  close(): Promise<void>;
}

/** holdingApi starts the stand-in on a free loopback port. */
export async function holdingApi(): Promise<HoldingApi> {
  const answers = new Map<string, string>([[TOKEN_CHECK_PATH, '{"events":[]}']]);
  const begun = new Set<string>();
  const taken: HeldRequest[] = [];
  const waiting: ((held: HeldRequest) => void)[] = [];
  let received = 0;
  const server = createServer((req, res) => {
    const target = req.url ?? '';
    const json = answers.get(target);
    if (json !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(json);
      return;
    }
    req.resume();
    received += 1;
    if (begun.has(target)) res.writeHead(202, { 'content-type': 'application/json' }).write('{"group":');
    const held: HeldRequest = {
      method: req.method ?? '',
      url: target,
      // Not events.once: it rejects on the socket's 'error', and a client that gives up a request
      // whose answer had begun resets the connection (ECONNRESET), which is a close here too.
      closed: new Promise((resolve) => req.socket.once('close', () => resolve())),
    };
    const waiter = waiting.shift();
    if (waiter) waiter(held);
    else taken.push(held);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    next: () => {
      const held = taken.shift();
      return held ? Promise.resolve(held) : new Promise((resolve) => waiting.push(resolve));
    },
    received: () => received,
    beginAnswering: (target) => {
      begun.add(target);
    },
    answer: (target, json) => {
      answers.set(target, JSON.stringify(json));
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
