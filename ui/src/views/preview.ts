// Live preview through POST /api/v1/templates/preview, with the context of a route that uses
// the template. Render errors and budget overruns are shown as messages, never as a frame.
import { all, ApiError, call, get } from "../api";
import { field, h } from "../dom";
import type { Dashboard, Route, Widget } from "../types";

export interface Content {
  html_content: string;
  css_content: string;
  js_content: string;
}

export interface Preview {
  el: HTMLElement;
  /** Render what `content` gives after a short pause in typing (read only then: on a large
   * template, copying the text on every keystroke is work the typing does not need). */
  schedule(content: () => Content): void;
  /** Render an old version at once, labelled as such. */
  showVersion(version: number, content: Content): void;
}

const DEBOUNCE_MS = 250;

function paramsOf(path: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of path.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) params[match[1]] = match[1];
  return params;
}

async function contextOf(route: Route | undefined): Promise<Record<string, unknown>> {
  if (!route) return {};
  const config = route.handler_config ?? {};
  const context: Record<string, unknown> = { ...(config.context ?? {}), params: paramsOf(route.path), query: {} };
  if (config.dashboard_id) {
    const [dashboard, widgets] = await Promise.all([
      get<Dashboard>(`/api/v1/dashboards/${config.dashboard_id}`),
      all<Widget>(`/api/v1/dashboards/${config.dashboard_id}/widgets`),
    ]);
    context.dashboard = dashboard;
    context.widgets = widgets;
  }
  return context;
}

function documentOf(html: string, css: string): string {
  // The frame is sandboxed without scripts: a preview shows markup and styles only.
  const style = css ? `<style>${css.replaceAll("</style", "<\\/style")}</style>` : "";
  return /<head[\s>]/i.test(html) ? html.replace(/<head([^>]*)>/i, `<head$1>${style}`) : `${style}${html}`;
}

export function createPreview(templateId: number | null): Preview {
  const select = h("select", {}, h("option", { value: "" }, "no route (empty context)"));
  const status = h("p", { class: "preview-status", role: "status" });
  const frame = h("iframe", { sandbox: "", title: "Rendered preview", class: "preview-frame" });
  const message = h("div", { class: "preview-message", role: "alert", hidden: true });
  const heading = h("h2", { id: "preview-heading" }, "Preview");
  const el = h(
    "section",
    { class: "panel preview", "aria-labelledby": "preview-heading" },
    heading,
    field("Context", select, "the route whose context the preview uses"),
    status,
    message,
    frame,
  );
  let routes: Route[] = [];
  let timer = 0;
  let last: Content | null = null;
  let generation = 0;

  if (templateId !== null) {
    all<Route>("/api/v1/routes")
      .then((items) => {
        routes = items.filter((route) => route.template_id === templateId);
        for (const route of routes) select.append(h("option", { value: String(route.id) }, `${route.method} ${route.path}`));
        if (routes.length) {
          select.value = String(routes[0].id);
          if (last) render(last, null);
        }
      })
      .catch(() => undefined);
  }
  select.addEventListener("change", () => last && render(last, null));

  async function render(content: Content, version: number | null): Promise<void> {
    const mine = ++generation;
    status.textContent = version === null ? "Rendering…" : `Rendering version ${version}…`;
    try {
      const route = routes.find((r) => String(r.id) === select.value);
      const context = await contextOf(route);
      const answer = await call<{ html: string }>("POST", "/api/v1/templates/preview", {
        body: { html_content: content.html_content, css_content: content.css_content, js_content: content.js_content, context },
      });
      if (mine !== generation) return;
      frame.srcdoc = documentOf(answer.data.html, content.css_content);
      frame.hidden = false;
      message.hidden = true;
      status.textContent = version === null ? "Preview of the editor's content" : `Preview of version ${version}`;
    } catch (error) {
      if (mine !== generation) return;
      const reason = error instanceof ApiError && error.details?.reason === "budget" ? "Over the render budget: " : "";
      message.textContent = reason + (error as Error).message;
      message.hidden = false;
      frame.hidden = true;
      status.textContent = "The preview could not be rendered";
    }
  }

  return {
    el,
    schedule(content) {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        last = content();
        void render(last, null);
      }, DEBOUNCE_MS);
    },
    showVersion(version, content) {
      window.clearTimeout(timer);
      void render(content, version);
    },
  };
}
