import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Controller, JournalEntry } from '../controller/index.js';
import {
  type DashboardSample,
  type GroupSummary,
  LiveSampler,
  type StreamHello,
  type StreamTick,
  toDecisionMark,
  toGroupSummary,
} from '../dashboard/index.js';

/** LiveStreamOptions wires the SSE stream. */
export interface LiveStreamOptions {
  controller: Controller;
  registry: Registry;
  /** @defaultValue 1000 (ms) */
  intervalMs?: number;
  /** Comment line sent to keep idle proxies from closing the stream. @defaultValue 15000 (ms) */
  heartbeatMs?: number;
}

/**
 * LiveStream serves `GET /api/scalability/stream` as server-sent events: `hello` (recent history:
 * samples, decisions, groups), then `tick` every interval (one sample per group plus every
 * group's summary) and `decision` for each new journal entry. `?group=` narrows it to one group.
 */
export class LiveStream {
  readonly sampler: LiveSampler;
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
  }

  /** start begins sampling, so a dashboard opened later has history to draw. */
  start(): void {
    if (!this.#closed) this.sampler.start();
  }

  /**
   * handle answers one stream request and keeps it open until the client leaves or close(); a HEAD
   * request gets the head only and is done.
   */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const only = url.searchParams.get('group') ?? undefined;
    if (only !== undefined) this.#options.controller.group(only); // 404 for an unknown group
    const keep = (name: string) => only === undefined || name === only;
    // A request that reached a closing server (on a kept-alive connection): nothing would end it.
    if (this.#closed) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: 'the API is shutting down' }));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    // HEAD: the head GET would send (after the same 404 check), and no events to wait for.
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const send = (event: string, data: unknown) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const journal = this.#options.controller.journal;
    const hello: StreamHello = {
      intervalMs: this.sampler.intervalMs,
      groups: this.sampler.groups().filter((g) => keep(g.name)),
      samples: Object.fromEntries(Object.entries(this.sampler.history()).filter(([name]) => keep(name))),
      decisions: journal
        .entries({ limit: 500 })
        .filter((e) => keep(e.group))
        .map(toDecisionMark),
    };
    send('hello', hello);
    const onTick = (samples: Record<string, DashboardSample>, groups: GroupSummary[]) => {
      const tick: StreamTick = {
        samples: Object.fromEntries(Object.entries(samples).filter(([name]) => keep(name))),
        groups: groups.filter((g) => keep(g.name)),
      };
      send('tick', tick);
    };
    const onEntry = (entry: JournalEntry) => {
      if (keep(entry.group)) send('decision', toDecisionMark(entry));
    };
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), this.#options.heartbeatMs ?? 15_000);
    heartbeat.unref();
    this.sampler.on('tick', onTick);
    journal.on('entry', onEntry);
    this.#clients.add(res);
    this.start();
    const stop = () => {
      clearInterval(heartbeat);
      this.sampler.off('tick', onTick);
      journal.off('entry', onEntry);
      this.#clients.delete(res);
    };
    res.on('close', stop);
    req.on('close', stop);
  }

  /** close stops sampling and ends every open stream (so the HTTP server can close); safe to call twice. */
  close(): void {
    this.#closed = true;
    this.sampler.close();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}
