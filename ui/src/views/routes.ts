import { all, call } from "../api";
import { announce, confirmDialog } from "../dialog";
import { field, h } from "../dom";
import { gatewayUrl } from "../gateway";
import type { View } from "../router";
import type { Route, TemplateSummary } from "../types";
import { baseline, confirmManaged, explain, jsonField, lockBadge, NO_CHANGES, tracked, trackedCheck, trackedJson } from "./forms";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];
// A route without a template (template_id null) renders its dashboard in the built-in layout
// (README, "Widgets and the built-in layout"); the select's value for it is "".
const BUILT_IN_LAYOUT = "built-in layout";

export function routesView(): View {
  const body = h("tbody");
  const formSlot = h("div");
  const el = h(
    "div",
    {},
    h("div", { class: "bar" }, h("h1", {}, "Routes"), h("button", { type: "button", class: "primary", onclick: () => void openForm(null) }, "New route")),
    formSlot,
    h(
      "table",
      { class: "list" },
      h("caption", { class: "sr-only" }, "Routes"),
      h("thead", {}, h("tr", {}, ...["Path", "Method", "Template", "State", "Version", ""].map((n) => h("th", { scope: "col" }, n || h("span", { class: "sr-only" }, "Actions"))))),
      body,
    ),
  );
  let templates: TemplateSummary[] = [];

  const reload = async () => {
    const [routes, base] = await Promise.all([all<Route>("/api/v1/routes"), gatewayUrl()]);
    templates = await all<TemplateSummary>("/api/v1/templates");
    const names = new Map(templates.map((t) => [t.id, t.name]));
    body.replaceChildren(
      ...routes.map((route) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, route.path), lockBadge(route)),
          h("td", {}, route.method),
          h("td", {}, route.template_id === null ? BUILT_IN_LAYOUT : (names.get(route.template_id) ?? `#${route.template_id}`)),
          h("td", {}, route.is_active ? "active" : "inactive"),
          h("td", {}, String(route.version)),
          h(
            "td",
            { class: "actions" },
            route.path.includes("{")
              ? null
              : h("a", { href: base + route.path, target: "_blank", rel: "noopener", "aria-label": `Open ${route.path} on the gateway` }, "Open"),
            h("button", { type: "button", "aria-label": `Edit ${route.path}`, onclick: () => void openForm(route) }, "Edit"),
            h("button", { type: "button", "aria-label": `Delete ${route.path}`, onclick: () => void remove(route) }, "Delete"),
          ),
        ),
      ),
    );
  };

  const remove = async (route: Route) => {
    const force = await confirmManaged(route, "route");
    if (force === null) return;
    if (!force && !(await confirmDialog(`Delete ${route.path}?`, "The gateway stops serving this path."))) return;
    try {
      await call("DELETE", `/api/v1/routes/${route.id}`, { ifMatch: route.version, query: force ? { force: true } : undefined });
      announce(`Deleted ${route.path}`);
      await reload();
    } catch (error) {
      announce(explain(error), "error");
    }
  };

  const openForm = async (route: Route | null) => {
    if (!templates.length) templates = await all<TemplateSummary>("/api/v1/templates");
    const path = h("input", { type: "text", required: true, value: route?.path ?? "/", spellcheck: "false" });
    // A new route starts on the first template, as its default handler_config names no
    // dashboard; an existing one shows exactly the template it has, or the built-in layout.
    const chosen = route ? route.template_id : (templates[0]?.id ?? null);
    const known = chosen === null || templates.some((t) => t.id === chosen);
    const template = h(
      "select",
      {},
      h("option", { value: "", selected: chosen === null }, BUILT_IN_LAYOUT),
      ...templates.map((t) => h("option", { value: String(t.id), selected: t.id === chosen }, t.name)),
      known ? null : h("option", { value: String(chosen), selected: true }, `#${chosen}`),
    );
    const method = h("select", {}, ...METHODS.map((m) => h("option", { value: m, selected: m === (route?.method ?? "GET") }, m)));
    const active = h("input", { type: "checkbox", id: "route-active", checked: route?.is_active ?? true });
    const config = jsonField("Handler config", route?.handler_config ?? { context: {}, cache_ttl: 300, auth: "public" });
    const fields = {
      path: tracked(path, (text) => text.trim()),
      template_id: tracked(template, (text) => (text === "" ? null : Number(text))),
      method: tracked(method),
      is_active: trackedCheck(active),
      handler_config: trackedJson(config),
    };
    const shown = baseline(fields);
    const error = h("p", { class: "error", role: "alert" });
    const form = h(
      "form",
      { class: "panel", "aria-labelledby": "route-form-heading" },
      h("h2", { id: "route-form-heading" }, route ? `Edit ${route.path}` : "New route"),
      field("Path", path, "may hold {params}, e.g. /sales/{region}"),
      field("Template", template, `${BUILT_IN_LAYOUT}: the dashboard of handler_config.dashboard_id, no template`),
      field("Method", method),
      h("div", { class: "check" }, active, h("label", { for: active.id }, "Active")),
      config.el,
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Save"), h("button", { type: "button", onclick: () => formSlot.replaceChildren() }, "Cancel")),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      let payload: Record<string, unknown>;
      try {
        // Editing: only what the user changed (the API leaves the rest as it is).
        payload = route ? shown.changes() : shown.values();
      } catch {
        return;
      }
      const shownPath = String(payload.path ?? route?.path ?? "");
      if (route && Object.keys(payload).length === 0) {
        announce(`${NO_CHANGES} in ${route.path}`);
        formSlot.replaceChildren();
        return;
      }
      const force = await confirmManaged(route, "route");
      if (force === null) return;
      try {
        if (route) await call("PUT", `/api/v1/routes/${route.id}`, { body: payload, ifMatch: route.version, query: force ? { force: true } : undefined });
        else await call("POST", "/api/v1/routes", { body: payload });
        announce(`Saved ${shownPath}`);
        formSlot.replaceChildren();
        await reload();
      } catch (failure) {
        error.textContent = explain(failure);
      }
    });
    formSlot.replaceChildren(form);
    path.focus();
  };

  reload().catch((error: Error) => announce(error.message, "error"));
  return { el };
}
