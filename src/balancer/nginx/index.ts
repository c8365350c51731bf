export {
  type CommandRunner,
  NginxDriver,
  NginxDriverError,
  type NginxDriverErrorCode,
  type NginxDriverEvents,
  type NginxDriverOptions,
  type NginxRetry,
  type NginxSync,
  runShell,
} from './driver.js';
export { type CommandOutput, discoverPidFile, type PidFileDiscovery } from './pid-file.js';
export {
  DEFAULT_NGINX_TIMEOUTS,
  type NginxTimeouts,
  nginxTime,
  nginxTimeouts,
  renderLocationTimeouts,
  renderUpstreams,
  type UpstreamGroup,
  upstreamName,
} from './render.js';
export { DEFAULT_NGINX_RETRY, type NginxRetryOptions, nginxRetryDelay } from './retry.js';
