/**
 * Kubernetes' rules for the names Scaleplane puts in API paths (apimachinery's
 * IsDNS1123Label / IsDNS1123Subdomain, with their words): a namespace is a DNS-1123 label, a
 * Deployment or StatefulSet (and in `mode: hpa` the HPA named as it) a DNS-1123 subdomain. Before,
 * a name that breaks them (`Web`, `web_api`, `shop/web`) went into the request path as written, and
 * the API server answered `deployments.apps "Web" not found` (or a namespace's 404), naming no rule.
 */

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** dns1123LabelIssue says why `value` is no DNS-1123 label (a namespace), undefined when it is one. Pure. */
export function dns1123LabelIssue(value: string): string | undefined {
  if (value.length > 63) return `must be no more than 63 characters (a DNS-1123 label), not ${value.length}`;
  if (!LABEL.test(value))
    return `${JSON.stringify(value)} is no DNS-1123 label: lower case letters, digits or '-', starting and ending with a letter or digit (e.g. 'shop', 'team-a')`;
  return undefined;
}

/** dns1123SubdomainIssue says why `value` is no DNS-1123 subdomain (a workload's name), undefined when it is one. Pure. */
export function dns1123SubdomainIssue(value: string): string | undefined {
  if (value.length > 253)
    return `must be no more than 253 characters (a DNS-1123 subdomain), not ${value.length}`;
  if (!SUBDOMAIN.test(value))
    return `${JSON.stringify(value)} is no DNS-1123 subdomain: lower case letters, digits, '-' or '.', starting and ending with a letter or digit (e.g. 'web', 'web-api')`;
  return undefined;
}
