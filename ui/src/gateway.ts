// Where the gateway serves routes, from /admin/config.json (the admin API's settings).
let cached: Promise<string> | null = null;

export function gatewayUrl(): Promise<string> {
  cached ??= fetch("/admin/config.json", { credentials: "omit" })
    .then((response) => response.json())
    .then((config: { gateway_url?: string | null; gateway_port?: number }) =>
      config.gateway_url ? config.gateway_url.replace(/\/$/, "") : `${location.protocol}//${location.hostname}:${config.gateway_port ?? 8000}`,
    )
    .catch(() => `${location.protocol}//${location.hostname}:8000`);
  return cached;
}
