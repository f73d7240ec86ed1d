// The shapes the admin API answers (see the README's admin API section).
export interface TemplateSummary {
  id: number;
  name: string;
  description: string | null;
  is_active: boolean;
  version: number;
  render_status: string | null;
  updated_at: string;
  managed_by?: string | null;
}

export interface Template extends TemplateSummary {
  html_content: string;
  css_content: string;
  js_content: string;
  config: Record<string, unknown>;
  render_error: string | null;
}

export interface VersionSummary {
  version: number;
  name: string;
  message: string | null;
  created_at: string;
}

export interface Version extends VersionSummary {
  html_content: string;
  css_content: string;
  js_content: string;
}

export interface Route {
  id: number;
  path: string;
  /** null: the built-in dashboard layout. */
  template_id: number | null;
  method: string;
  handler_config: { dashboard_id?: number | null; context?: Record<string, unknown>; [key: string]: unknown };
  is_active: boolean;
  version: number;
  managed_by?: string | null;
}

export interface Dashboard {
  id: number;
  name: string;
  title: string;
  description: string | null;
  is_public: boolean;
  version: number;
  managed_by?: string | null;
}

export interface Widget {
  id: number;
  dashboard_id: number;
  key: string;
  title: string;
  type: string;
  config: Record<string, unknown>;
  data: unknown;
  data_version: number;
  version: number;
  managed_by?: string | null;
}

export interface ApiKey {
  id: number;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export const SCOPES = ["admin", "templates:write", "routes:write", "dashboards:write", "data:write", "data:read", "events:read", "site:plan", "site:apply"];
