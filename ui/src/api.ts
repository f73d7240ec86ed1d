// The admin API client: the key from sessionStorage in X-API-Key (no cookies, so no CSRF
// surface), the envelope unwrapped, errors as ApiError, and a 401 signing the user out.
const KEY = "dyndash.apiKey";

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
    readonly details: any,
  ) {
    super(message);
  }
}

export const session = {
  key(): string | null {
    return sessionStorage.getItem(KEY);
  },
  signIn(key: string): void {
    sessionStorage.setItem(KEY, key);
  },
  signOut(reason?: string): void {
    sessionStorage.removeItem(KEY);
    window.dispatchEvent(new CustomEvent("dyndash:signed-out", { detail: reason }));
  },
};

export interface Options {
  body?: unknown;
  ifMatch?: number;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

export interface Answer<T> {
  data: T;
  etag: number | null;
  message: string | null;
}

export async function call<T>(method: string, path: string, options: Options = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const key = session.key();
  if (key) headers["X-API-Key"] = key;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.ifMatch !== undefined) headers["If-Match"] = `"${options.ifMatch}"`;
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new ApiError(0, "the admin API cannot be reached", "network", null);
  }
  let payload: any = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const message = payload?.message ?? `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, message, payload?.data?.code ?? "error", payload?.data?.details);
    if (response.status === 401) session.signOut("The API key is not valid (mistyped, revoked or expired). Sign in again.");
    throw error;
  }
  const etag = response.headers.get("ETag");
  return {
    data: payload?.data as T,
    etag: etag ? Number(etag.replaceAll('"', "")) : null,
    message: payload?.message ?? null,
  };
}

export async function get<T>(path: string, query?: Options["query"]): Promise<T> {
  return (await call<T>("GET", path, { query })).data;
}

/** Every item of a paginated list (the API pages at most 200 at a time). */
export async function all<T>(path: string, query: Options["query"] = {}): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const page = await get<Page<T>>(path, { ...query, limit: 200, offset: items.length });
    items.push(...page.items);
    if (page.items.length === 0 || items.length >= page.total) return items;
  }
}

/** Objects written by "sites as code" refuse API writes unless forced (see the README). */
export function managed(entity: { managed_by?: string | null } | null | undefined): boolean {
  return entity?.managed_by === "files";
}
