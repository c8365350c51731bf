/** RequestTimeoutInput is what `requestTimeoutVerdict` looks at, about a request whose time ran out before any response. */
export interface RequestTimeoutInput {
  /** The request has a body (content-length > 0 or a transfer-encoding). */
  readonly hasBody: boolean;
  /** Sending the body to the backend began: its connection was open. */
  readonly bodyStarted: boolean;
  /** The client's body arrived whole. */
  readonly requestComplete: boolean;
  /** Reading the client's body is paused because the backend is not taking it (backpressure). */
  readonly bodyBackpressured: boolean;
}

/** RequestTimeoutReason is the stable reason token of a request timeout's verdict. */
export type RequestTimeoutReason = 'ClientBodyStalled' | 'UpstreamTimeout';

/** RequestTimeoutVerdict says whose the request timeout was: the status it gets, and why. */
export type RequestTimeoutVerdict =
  | { readonly status: 408; readonly reason: 'ClientBodyStalled' }
  | { readonly status: 504; readonly reason: 'UpstreamTimeout' };

const verdicts = {
  ClientBodyStalled: { status: 408, reason: 'ClientBodyStalled' },
  UpstreamTimeout: { status: 504, reason: 'UpstreamTimeout' },
} as const satisfies Record<RequestTimeoutReason, RequestTimeoutVerdict>;

/**
 * requestTimeoutVerdict says whose fault a request timeout with no response started was. The
 * client's (`408`, not an upstream error, no backend blamed) when the backend was taking its body
 * and the rest of it never came: NGINX answers a client stalled in its body 408 at
 * client_body_timeout, and Envoy's route timeout only starts once the request is whole (its
 * downstream request timeout is a 408). The backend's (`504`, an upstream timeout, a gateway error
 * for outlier detection) otherwise: it had the whole request, its connection never opened, or it
 * stopped reading the body. Before, a stalled client got a 504 and counted as
 * `scaleplane_upstream_errors_total{kind="timeout"}`, an upstream failure no backend had.
 */
export function requestTimeoutVerdict(input: RequestTimeoutInput): RequestTimeoutVerdict {
  if (input.hasBody && input.bodyStarted && !input.requestComplete && !input.bodyBackpressured)
    return verdicts.ClientBodyStalled;
  return verdicts.UpstreamTimeout;
}
