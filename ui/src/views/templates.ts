import { all } from "../api";
import { announce } from "../dialog";
import { formatTime, h } from "../dom";
import { link, navigate, type View } from "../router";
import type { TemplateSummary } from "../types";

export function templatesView(): View {
  const search = h("input", { type: "search", id: "template-search", placeholder: "name contains…" });
  const body = h("tbody");
  const count = h("p", { class: "muted" });
  let templates: TemplateSummary[] = [];

  const show = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = templates.filter((t) => t.name.toLowerCase().includes(needle) || (t.description ?? "").toLowerCase().includes(needle));
    body.replaceChildren(
      ...shown.map((t) =>
        h(
          "tr",
          {},
          h("td", {}, link(`templates/${t.id}`, t.name), t.managed_by === "files" ? h("span", { class: "badge lock" }, "managed from files") : null),
          h("td", {}, String(t.version)),
          h("td", {}, h("span", { class: `badge render-${t.render_status ?? "none"}` }, t.render_status ?? "not rendered")),
          h("td", {}, t.is_active ? "active" : "inactive"),
          h("td", {}, formatTime(t.updated_at)),
        ),
      ),
    );
    count.textContent = `${shown.length} of ${templates.length} templates`;
  };
  search.addEventListener("input", show);

  const el = h(
    "div",
    {},
    h(
      "div",
      { class: "bar" },
      h("h1", {}, "Templates"),
      h("button", { type: "button", class: "primary", onclick: () => void navigate("/admin/templates/new") }, "New template"),
    ),
    h("div", { class: "field inline" }, h("label", { for: "template-search" }, "Search"), search),
    count,
    h(
      "table",
      { class: "list" },
      h("caption", { class: "sr-only" }, "Templates"),
      h(
        "thead",
        {},
        h("tr", {}, ...["Name", "Version", "Render status", "State", "Updated"].map((n) => h("th", { scope: "col" }, n))),
      ),
      body,
    ),
  );
  all<TemplateSummary>("/api/v1/templates")
    .then((items) => {
      templates = items;
      show();
    })
    .catch((error: Error) => announce(error.message, "error"));
  return { el };
}
