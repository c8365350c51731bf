import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Controller, JournalEntry } from '../controller/index.js';
import {
  type DashboardSample,
  DECISIONS_PER_GROUP,
  type GroupSummary,
  LiveSampler,
  type StreamHello,
  type StreamTick,
  toDecisionMark,
  toGroupSummary,
} from '../dashboard/index.js';
import type { Principal } from './auth.js';
import { DecisionFeed, type JournalView } from './decision-feed.js';

/** LiveStreamOptions wires the SSE stream. */
export interface LiveStreamOptions {
  controller: Controller;
  registry: Registry;
  /** @defaultValue 1000 (ms) */
  intervalMs?: number;
  /** Comment line sent to keep idle proxies from closing the stream. @defaultValue 15000 (ms) */
  heartbeatMs?: number;
  /**
   * Bytes a stream may hold unsent (beyond its `hello`) before it is closed as a slow consumer.
   * @defaultValue STREAM_BUFFER_BYTES (1 MiB)
   */
  maxBufferedBytes?: number;
  /** Told once per stream closed for falling behind. */
  logger?: { warn(obj: object, msg?: string): void };
}

/**
 * STREAM_BUFFER_BYTES is the default unsent backlog of one live stream: about a minute of ticks for
 * a dozen groups, so a client that is only briefly slow is not cut off.
 */
export const STREAM_BUFFER_BYTES = 1024 * 1024;

/**
 * isTooFarBehind says whether a stream's unsent bytes exceed its allowance. The `hello` is allowed
 * on top of the limit: it is written in one go, so a fresh stream over a slow link may hold all of
 * it for a moment without being behind.
 */
export function isTooFarBehind(buffered: number, helloBytes: number, maxBufferedBytes: number): boolean {
  return buffered > helloBytes + maxBufferedBytes;
}

/**
 * LiveStream serves `GET /api/scalability/stream` as server-sent events: `hello` (recent history:
 * samples, decisions, groups), then `tick` every interval (one sample per group plus every
 * group's summary) and `decision` for each new journal entry. `?group=` narrows it to one group.
 * The decisions are those `GET /api/scalability/events` answers: a standby's are the leader's
 * (see DecisionFeed). A fresh `hello` comes again when that journal restarted under the stream.
 */
export class LiveStream {
  readonly sampler: LiveSampler;
  readonly feed: DecisionFeed;
  readonly #options: LiveStreamOptions;
  readonly #clients = new Set<ServerResponse>();
  #closed = false;

  constructor(options: LiveStreamOptions) {
    this.#options = options;
    const { controller } = options;
    this.sampler = new LiveSampler({
      registry: options.registry,
      groups: () => controller.groupNames().map((name) => toGroupSummary(controller.status(name))),
      ...(options.intervalMs !== undefined && { intervalMs: options.intervalMs }),
    });
    this.feed = new DecisionFeed({
      controller,
      ...(options.intervalMs !== undefined && { intervalMs: options.intervalMs }),
      ...(options.logger !== undefined && { logger: options.logger }),
    });
  }

  /** start begins sampling, so a dashboard opened later has history to draw. */
  start(): void {
    if (this.#closed) return;
    this.sampler.start();
    this.feed.start();
  }

  /**
   * handle answers one stream request and keeps it open until the client leaves or close(); a HEAD
   * request gets the head only and is done. A standby reads the leader's journal for the hello
   * first (rejects, before the head, when that read fails).
   */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, principal?: Principal): Promise<void> {
    const only = url.searchParams.get('group') ?? undefined;
    if (only !== undefined) this.#options.controller.group(only); // 404 for an unknown group
    const keep = (name: string) => only === undefined || name === only;
    const head = () =>
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
    // A request that reached a closing server (on a kept-alive connection): nothing would end it.
    if (this.#closed) return this.#shuttingDown(res);
    // HEAD: the head GET would send (after the same 404 check), and no events to wait for.
    if (req.method === 'HEAD') {
      head();
      res.end();
      return;
    }
    // Read at most twice: a takeover or a role change between reads gives the own journal.
    let journal: JournalView | undefined = this.feed.current();
    for (let i = 0; journal === undefined && i < 2; i++) {
      await this.feed.ready();
      journal = this.feed.current();
    }
    if (journal === undefined) throw new Error("live stream: the leader's journal could not be read");
    if (res.destroyed) return;
    if (this.#closed) return this.#shuttingDown(res);
    head();
    const maxBuffered = this.#options.maxBufferedBytes ?? STREAM_BUFFER_BYTES;
    let helloBytes = 0;
    // A client that stops reading (a frozen tab, a stuck proxy) left every event queued in this
    // process: 200,000 journal entries held ~120 MiB for one such client. Like NGINX and Envoy with
    // slow consumers, its stream is closed once it falls too far behind; the EventSource reconnects
    // and starts again from a fresh hello, so nothing is lost that the hello does not carry.
    const write = (text: string) => {
      // Ended (a revoked token, close()) but not yet closed: a write now would be an 'error' event
      // on the response, which nothing listens to, ending the process.
      if (res.destroyed || res.writableEnded) return;
      res.write(text);
      if (!isTooFarBehind(res.writableLength, helloBytes, maxBuffered)) return;
      this.#options.logger?.warn(
        {
          remote: req.socket.remoteAddress,
          buffered: res.writableLength,
          limit: maxBuffered,
          ...(only !== undefined && { group: only }),
        },
        `live stream closed: the client fell more than ${maxBuffered} bytes behind; it reconnects for a fresh snapshot`,
      );
      res.destroy();
    };
    const send = (event: string, data: unknown) =>
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const sayHello = (journal: JournalView) => {
      const groups = this.sampler.groups().filter((g) => keep(g.name));
      const hello: StreamHello = {
        intervalMs: this.sampler.intervalMs,
        ...(principal !== undefined && { principal: { name: principal.name, role: principal.role } }),
        // Wall clock, not the decision clock: the instances' start times it is compared with are.
        serverNow: Date.now(),
        groups,
        samples: Object.fromEntries(Object.entries(this.sampler.history()).filter(([name]) => keep(name))),
        // Each group's newest, as many as the browser keeps of a group live. Before, the newest 500 of
        // all groups, then those of the groups asked for: a group that flapped 500 times left another's
        // decisions (still in the journal) out, so a reconnect took them off a dashboard that had
        // shown them, and `?group=` got none of the quiet group's.
        decisions: groups.flatMap((g) =>
          journal.entries({ group: g.name, limit: DECISIONS_PER_GROUP }).map(toDecisionMark),
        ),
      };
      const helloText = `event: hello\ndata: ${JSON.stringify(hello)}\n\n`;
      helloBytes = Buffer.byteLength(helloText);
      write(helloText);
    };
    sayHello(journal);
    const onTick = (samples: Record<string, DashboardSample>, groups: GroupSummary[]) => {
      const tick: StreamTick = {
        serverNow: Date.now(),
        samples: Object.fromEntries(Object.entries(samples).filter(([name]) => keep(name))),
        groups: groups.filter((g) => keep(g.name)),
      };
      send('tick', tick);
    };
    const onEntry = (entry: JournalEntry) => {
      if (keep(entry.group)) send('decision', toDecisionMark(entry));
    };
    // The journal the decisions came from restarted (see followJournal): the client's marks can no
    // longer be told old from new, so it gets the journal afresh, as a reconnect would.
    const onRestart = () => {
      const fresh = this.feed.current();
      if (fresh !== undefined) sayHello(fresh);
    };
    const heartbeat = setInterval(() => write(': keep-alive\n\n'), this.#options.heartbeatMs ?? 15_000);
    heartbeat.unref();
    this.sampler.on('tick', onTick);
    this.feed.on('decision', onEntry);
    this.feed.on('restart', onRestart);
    this.#clients.add(res);
    this.start();
    const stop = () => {
      clearInterval(heartbeat);
      this.sampler.off('tick', onTick);
      this.feed.off('decision', onEntry);
      this.feed.off('restart', onRestart);
      this.#clients.delete(res);
    };
    res.on('close', stop);
    req.on('close', stop);
  }

  /** close stops sampling and ends every open stream (so the HTTP server can close); safe to call twice. */
  close(): void {
    this.#closed = true;
    this.sampler.close();
    this.feed.close();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  #shuttingDown(res: ServerResponse): void {
    res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ error: 'the API is shutting down' }));
  }
}
