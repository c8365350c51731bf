import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { PickContext, Picker } from './algorithms/index.js';
import { connectTimeoutError, guardConnect } from './connect-timeout.js';
import { responseCodingRefusal } from './headers.js';
import type { PoolMember } from './pool.js';
import {
  type GatewayReply,
  type GroupRoute,
  type ProxyPath,
  pickAttempt,
  routeRetryDecision,
  type StatusClass,
  statusClass,
} from './proxy.js';
import { classifyUpstreamError, type UpstreamFailure } from './retry.js';

/** OriginRequest is a bodiless request the balancer itself makes to a group (cache fills, revalidations). */
export interface OriginRequest {
  readonly method: 'GET' | 'HEAD';
  /** Request target: path and query. */
  readonly path: string;
  /** Raw header list as it goes to the backend (already through `forwardRequestHeaders`). */
  readonly headers: readonly string[];
  /** Consistent-hash key, when the picker hashes. */
  readonly key?: string;
}

/** OriginResponse is the backend's answer; the caller must read or discard `body`. */
export interface OriginResponse {
  readonly status: number;
  readonly statusMessage: string;
  readonly rawHeaders: readonly string[];
  readonly headers: http.IncomingHttpHeaders;
  readonly body: http.IncomingMessage;
}

/** OriginError is a request that got no response: `status` and `body` are the balancer's own reply. */
export class OriginError extends Error {
  readonly code = 'BALANCER_ORIGIN_FAILED';
  readonly failure: UpstreamFailure | 'no_backend';
  readonly status: number;
  readonly body: Buffer;

  constructor(failure: UpstreamFailure | 'no_backend', status: number, body: Buffer) {
    super(`origin request failed: ${failure}`);
    this.name = 'OriginError';
    this.failure = failure;
    this.status = status;
    this.body = body;
  }
}

/**
 * fetchFromGroup sends one bodiless request to a backend of `route` chosen by `picker`, with the
 * same accounting as proxied traffic (in-flight per backend for draining, outlier outcomes, the
 * group's request and error series) and the same retry rule: a request that never reached a
 * backend, or died on a stale keep-alive socket, or got no response headers within the proxy's
 * per-try timeout, is tried on another one within the retry budget. Resolves once response headers
 * arrive; the whole exchange, body included, is bounded by the proxy's request timeout. Rejects
 * with OriginError.
 */
export function fetchFromGroup(
  proxy: ProxyPath,
  route: GroupRoute,
  picker: Picker,
  request: OriginRequest,
): Promise<OriginResponse> {
  return new Promise<OriginResponse>((resolve, reject) => {
    const started = performance.now();
    const { telemetry } = route;
    route.requests++;
    route.inFlight++;
    telemetry.inFlight.inc();
    route.budget.request(started);
    let backend: PoolMember | undefined;
    let upstream: http.ClientRequest | undefined;
    let response: http.IncomingMessage | undefined;
    let tried: Set<PoolMember> | undefined;
    /** The last attempt's failure, and the answer due if no retry is left after it. */
    let failure: { kind: UpstreamFailure; reply: GatewayReply } | undefined;
    // A backend a retry may go back to when no other is left (see `pickAttempt`).
    let lastResort: PoolMember | undefined;
    let retries = 0;
    let ended = false;
    // The current attempt's per-try timer and its verdict a loop turn later (see Exchange.tryTimedOut).
    let tryTimer: NodeJS.Timeout | undefined;
    let tryVerdict: NodeJS.Immediate | undefined;
    const clearTry = (): void => {
      clearTimeout(tryTimer);
      clearImmediate(tryVerdict);
      tryTimer = undefined;
      tryVerdict = undefined;
    };

    const release = (): void => {
      if (backend === undefined) return;
      const member = backend;
      backend = undefined;
      route.pool.release(member);
      if (member.removed) proxy.retire(member);
    };
    const end = (result: StatusClass): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      clearTry();
      release();
      route.inFlight--;
      telemetry.inFlight.dec();
      telemetry.requests[result].inc();
      telemetry.duration.observe((performance.now() - started) / 1000);
    };
    const fail = (kind: UpstreamFailure | 'no_backend', status: number, body: Buffer): void => {
      end('error');
      reject(new OriginError(kind, status, body));
    };
    const timer = setTimeout(() => {
      telemetry.errors.timeout.inc();
      proxy.logger.warn({ group: route.name, timeoutMs: proxy.requestTimeout }, 'origin request timed out');
      const err = Object.assign(new Error('origin request timed out'), { code: 'ETIMEDOUT' });
      if (response !== undefined) {
        response.destroy(err);
        end('error');
      } else {
        // A backend that had the whole (bodiless) request and sent no response in time failed it,
        // for outlier detection, as on the proxied path: a fill timing out on a hung backend was
        // counted nowhere, so that backend kept its share of the fills for good.
        if (backend !== undefined && upstream !== undefined) route.outcome(backend, 'gateway');
        upstream?.destroy();
        fail('timeout', 504, route.replies.timeout);
      }
    }, proxy.requestTimeout);

    const attempt = (): void => {
      const ctx: PickContext | undefined =
        tried === undefined && request.key === undefined ? undefined : { exclude: tried, key: request.key };
      const picked = pickAttempt(picker, route.pool, ctx, lastResort);
      lastResort = undefined;
      if (picked === undefined) {
        if (failure === undefined) {
          telemetry.errors.no_backend.inc();
          fail('no_backend', 503, route.replies.noBackend);
        } else fail(failure.kind, failure.reply.status, failure.reply.body);
        return;
      }
      if (tried !== undefined) {
        retries++;
        route.budget.spend(performance.now());
        telemetry.retries.inc();
      }
      backend = picked;
      route.pool.acquire(picked);
      const attemptStarted = performance.now();
      let req: http.ClientRequest;
      try {
        req = http.request({
          agent: proxy.agent,
          host: picked.host,
          port: picked.port,
          method: request.method,
          path: request.path,
          headers: request.headers as string[],
          maxHeaderSize: proxy.maxHeaderSize,
        });
        // All of a response's header fields, not node:http's first 2000 (see proxy.ts).
        req.maxHeadersCount = 0;
      } catch (err) {
        release();
        proxy.logger.warn({ group: route.name, err: (err as Error).message }, 'origin request not sendable');
        fail('other', 502, route.replies.badGateway.other);
        return;
      }
      upstream = req;
      guardConnect(req, proxy.connectTimeout);
      // per_try_timeout, as on the proxied path: a fill a hung backend had took the whole
      // request_timeout and ended in a 504 for every request waiting on it.
      let cutByTry = false;
      const perTry = proxy.perTryTimeout;
      if (perTry !== undefined)
        tryTimer = setTimeout(() => {
          tryVerdict = setImmediate(() => {
            tryTimer = tryVerdict = undefined;
            if (ended || upstream !== req || response !== undefined) return;
            // Still connecting: nothing was sent, a connect timeout.
            const connecting = req.socket == null || req.socket.connecting;
            cutByTry = !connecting;
            req.destroy(
              connecting
                ? connectTimeoutError(perTry)
                : Object.assign(new Error(`no response headers within per_try_timeout (${perTry} ms)`), {
                    code: 'ETIMEDOUT',
                  }),
            );
          });
        }, perTry);
      req.on('response', (res) => {
        if (ended || upstream !== req) {
          res.destroy();
          return;
        }
        clearTry();
        response = res;
        picker.observe?.(picked, performance.now() - attemptStarted);
        const status = res.statusCode ?? 502;
        route.outcome(picked, status >= 500 ? '5xx' : 'success');
        const coding = responseCodingRefusal(res.headers['transfer-encoding']);
        if (coding !== undefined) {
          telemetry.errors.other.inc();
          proxy.logger.warn(
            { group: route.name, backend: picked.id, err: coding },
            'origin response not forwardable',
          );
          fail('other', 502, route.replies.badGateway.other);
          res.destroy();
          return;
        }
        res.on('end', () => end(statusClass(status)));
        res.on('close', () => {
          if (!res.complete) {
            telemetry.errors.reset.inc();
            end('error');
          }
        });
        resolve({
          status,
          statusMessage: res.statusMessage ?? '',
          rawHeaders: res.rawHeaders,
          headers: res.headers,
          body: res,
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (ended || upstream !== req || response !== undefined) return;
        clearTry();
        const kind = classifyUpstreamError(err);
        telemetry.errors[kind].inc();
        req.destroy();
        const member = picked;
        release();
        const reply = route.replies.failed(kind, err);
        failure = { kind, reply };
        tried ??= new Set();
        tried.add(member);
        if (kind !== 'other') route.outcome(member, 'gateway');
        const decision = routeRetryDecision(route, {
          method: request.method,
          failure: kind,
          reusedSocket: req.reusedSocket,
          perTryTimeout: cutByTry,
          retries,
        });
        proxy.logger.warn(
          {
            group: route.name,
            backend: member.id,
            code: err.code,
            retry: decision.retry,
            reason: decision.reason,
          },
          'origin request failed',
        );
        if (decision.retry) {
          if (decision.reason === 'StaleKeepAlive') lastResort = member;
          attempt();
        } else fail(kind, reply.status, reply.body);
      });
      req.end();
    };
    attempt();
  });
}
