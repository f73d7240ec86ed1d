import { all, call, get } from "../api";
import { announce, confirmDialog } from "../dialog";
import { field, h } from "../dom";
import { link, navigate, type Params, type View } from "../router";
import type { Dashboard, Widget } from "../types";
import { baseline, confirmManaged, explain, jsonField, lockBadge, NO_CHANGES, tracked, trackedCheck, trackedJson } from "./forms";

function dashboardForm(dashboard: Dashboard | null, done: (saved: Dashboard) => void, cancel: () => void): HTMLElement {
  const name = h("input", { type: "text", required: true, value: dashboard?.name ?? "", spellcheck: "false" });
  const title = h("input", { type: "text", value: dashboard?.title ?? "" });
  const description = h("input", { type: "text", value: dashboard?.description ?? "" });
  const isPublic = h("input", { type: "checkbox", id: "dashboard-public", checked: dashboard?.is_public ?? false });
  const fields = {
    name: tracked(name, (text) => text.trim()),
    title: tracked(title),
    // An emptied description is no description.
    description: tracked(description, (text) => text || null),
    is_public: trackedCheck(isPublic),
  };
  const shown = baseline(fields);
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "dashboard-form-heading" },
    h("h2", { id: "dashboard-form-heading" }, dashboard ? `Edit ${dashboard.name}` : "New dashboard"),
    field("Name", name),
    field("Title", title),
    field("Description", description),
    h("div", { class: "check" }, isPublic, h("label", { for: isPublic.id }, "Public")),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Save"), h("button", { type: "button", onclick: cancel }, "Cancel")),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    // Editing: only what the user changed (the API leaves the rest as it is).
    const body = dashboard ? shown.changes() : shown.values();
    if (dashboard && Object.keys(body).length === 0) {
      announce(`${NO_CHANGES} in dashboard ${dashboard.name}`);
      cancel();
      return;
    }
    const force = await confirmManaged(dashboard, "dashboard");
    if (force === null) return;
    try {
      const answer = dashboard
        ? await call<Dashboard>("PUT", `/api/v1/dashboards/${dashboard.id}`, { body, ifMatch: dashboard.version, query: force ? { force: true } : undefined })
        : await call<Dashboard>("POST", "/api/v1/dashboards", { body });
      announce(`Saved dashboard ${answer.data.name}`);
      done(answer.data);
    } catch (failure) {
      error.textContent = explain(failure);
    }
  });
  queueMicrotask(() => name.focus());
  return form;
}

export function dashboardsView(): View {
  const body = h("tbody");
  const formSlot = h("div");
  const reload = async () => {
    const dashboards = await all<Dashboard>("/api/v1/dashboards");
    body.replaceChildren(
      ...dashboards.map((d) =>
        h(
          "tr",
          {},
          h("td", {}, link(`dashboards/${d.id}`, d.name), lockBadge(d)),
          h("td", {}, d.title),
          h("td", {}, d.is_public ? "public" : "private"),
          h("td", {}, String(d.version)),
        ),
      ),
    );
  };
  const el = h(
    "div",
    {},
    h(
      "div",
      { class: "bar" },
      h("h1", {}, "Dashboards"),
      h(
        "button",
        {
          type: "button",
          class: "primary",
          onclick: () => formSlot.replaceChildren(dashboardForm(null, (d) => void navigate(`/admin/dashboards/${d.id}`), () => formSlot.replaceChildren())),
        },
        "New dashboard",
      ),
    ),
    formSlot,
    h(
      "table",
      { class: "list" },
      h("caption", { class: "sr-only" }, "Dashboards"),
      h("thead", {}, h("tr", {}, ...["Name", "Title", "Visibility", "Version"].map((n) => h("th", { scope: "col" }, n || h("span", { class: "sr-only" }, "Actions"))))),
      body,
    ),
  );
  reload().catch((error: Error) => announce(error.message, "error"));
  return { el };
}

function widgetForm(dashboardId: number, widget: Widget | null, done: () => void, cancel: () => void): HTMLElement {
  const key = h("input", { type: "text", required: true, value: widget?.key ?? "", spellcheck: "false" });
  const title = h("input", { type: "text", value: widget?.title ?? "" });
  const type = h("input", { type: "text", value: widget?.type ?? "generic", spellcheck: "false" });
  const config = jsonField("Widget config", widget?.config ?? {});
  // Data may be any JSON value, null too: shown as stored.
  const data = jsonField("Widget data", widget ? widget.data : {});
  const fields = {
    key: tracked(key, (text) => text.trim()),
    title: tracked(title),
    type: tracked(type, (text) => text.trim()),
    config: trackedJson(config),
  };
  const shown = baseline(fields);
  // Data has its own endpoint and version (data_version), as pushes from jobs use it.
  const shownData = baseline({ data: trackedJson(data) });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "widget-form-heading" },
    h("h2", { id: "widget-form-heading" }, widget ? `Edit widget ${widget.key}` : "New widget"),
    field("Key", key),
    field("Title", title),
    field("Type", type),
    config.el,
    data.el,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Save"), h("button", { type: "button", onclick: cancel }, "Cancel")),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let changed: Record<string, unknown>;
    let dataChanged: Record<string, unknown>;
    let created: Record<string, unknown> = {};
    try {
      changed = shown.changes();
      dataChanged = shownData.changes();
      if (!widget) created = { ...shown.values(), data: data.parse() };
    } catch {
      return;
    }
    if (widget && Object.keys(changed).length === 0 && Object.keys(dataChanged).length === 0) {
      announce(`${NO_CHANGES} in widget ${widget.key}`);
      cancel();
      return;
    }
    const force = await confirmManaged(widget, "widget");
    if (force === null) return;
    const query = force ? { force: true } : undefined;
    const savedKey = String((widget ? changed.key : created.key) ?? widget?.key ?? "");
    try {
      if (widget) {
        // Editing: only what the user changed (the API leaves the rest as it is).
        if (Object.keys(changed).length) await call("PUT", `/api/v1/widgets/${widget.id}`, { body: changed, ifMatch: widget.version, query });
        if ("data" in dataChanged) await call("POST", `/api/v1/data/widget/${widget.id}`, { body: dataChanged, query });
      } else {
        await call("POST", `/api/v1/dashboards/${dashboardId}/widgets`, { body: created });
      }
      announce(`Saved widget ${savedKey}`);
      done();
    } catch (failure) {
      error.textContent = explain(failure);
    }
  });
  queueMicrotask(() => key.focus());
  return form;
}

export function dashboardView(params: Params): View {
  const id = Number(params.id);
  const heading = h("h1", {}, "Dashboard");
  const formSlot = h("div");
  const info = h("p", { class: "muted" });
  const body = h("tbody");
  let dashboard: Dashboard | null = null;

  const reload = async () => {
    dashboard = await get<Dashboard>(`/api/v1/dashboards/${id}`);
    heading.textContent = `Dashboard ${dashboard.name}`;
    info.textContent = `${dashboard.title || "(no title)"} · ${dashboard.is_public ? "public" : "private"} · version ${dashboard.version}`;
    const widgets = await all<Widget>(`/api/v1/dashboards/${id}/widgets`);
    body.replaceChildren(
      ...widgets.map((w) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, w.key), lockBadge(w)),
          h("td", {}, w.title),
          h("td", {}, w.type),
          h("td", {}, `v${w.version}, data v${w.data_version}`),
          h(
            "td",
            { class: "actions" },
            h("button", { type: "button", "aria-label": `Edit widget ${w.key}`, onclick: () => formSlot.replaceChildren(widgetForm(id, w, after, close)) }, "Edit"),
            h("button", { type: "button", "aria-label": `Delete widget ${w.key}`, onclick: () => void removeWidget(w) }, "Delete"),
          ),
        ),
      ),
    );
  };
  const close = () => formSlot.replaceChildren();
  const after = () => {
    close();
    void reload();
  };
  const removeWidget = async (w: Widget) => {
    const force = await confirmManaged(w, "widget");
    if (force === null) return;
    if (!force && !(await confirmDialog(`Delete widget ${w.key}?`, "Pages that show it lose it."))) return;
    try {
      await call("DELETE", `/api/v1/widgets/${w.id}`, { ifMatch: w.version, query: force ? { force: true } : undefined });
      after();
    } catch (error) {
      announce(explain(error), "error");
    }
  };
  const removeDashboard = async () => {
    if (!dashboard) return;
    const force = await confirmManaged(dashboard, "dashboard");
    if (force === null) return;
    if (!force && !(await confirmDialog(`Delete dashboard ${dashboard.name}?`, "Its widgets are deleted with it."))) return;
    try {
      await call("DELETE", `/api/v1/dashboards/${id}`, { ifMatch: dashboard.version, query: force ? { force: true } : undefined });
      announce(`Deleted dashboard ${dashboard.name}`);
      await navigate("/admin/dashboards");
    } catch (error) {
      announce(explain(error), "error");
    }
  };
  const el = h(
    "div",
    {},
    h("p", {}, link("dashboards", "← Dashboards")),
    h(
      "div",
      { class: "bar" },
      heading,
      h("button", { type: "button", onclick: () => dashboard && formSlot.replaceChildren(dashboardForm(dashboard, after, close)) }, "Edit dashboard"),
      h("button", { type: "button", onclick: () => void removeDashboard() }, "Delete dashboard"),
    ),
    info,
    formSlot,
    h("div", { class: "bar" }, h("h2", {}, "Widgets"), h("button", { type: "button", class: "primary", onclick: () => formSlot.replaceChildren(widgetForm(id, null, after, close)) }, "New widget")),
    h(
      "table",
      { class: "list" },
      h("caption", { class: "sr-only" }, "Widgets"),
      h("thead", {}, h("tr", {}, ...["Key", "Title", "Type", "Versions", ""].map((n) => h("th", { scope: "col" }, n || h("span", { class: "sr-only" }, "Actions"))))),
      body,
    ),
  );
  reload().catch((error: Error) => announce(error.message, "error"));
  return { el };
}
