// One template: editors, live preview, history and the conflict view. Every save sends
// If-Match; a 412 shows the server's version beside the user's, never a silent overwrite.
import { ApiError, call, get, managed } from "../api";
import { contentDiff } from "../diffview";
import { announce, confirmDialog } from "../dialog";
import { field, h } from "../dom";
import { type CodeEditor, createEditor, type Lang } from "../editor";
import { navigate, type Params, type View } from "../router";
import type { Template, Version } from "../types";
import { jsonField, NO_CHANGES } from "./forms";
import { createHistory, type HistoryPanel } from "./history";
import { type Content, createPreview } from "./preview";

type Draft = Content & { name: string; description: string; is_active: boolean; config: string };
const EDITORS: [keyof Content, string, Lang][] = [
  ["html_content", "HTML", "html"],
  ["css_content", "CSS", "css"],
  ["js_content", "JS", "js"],
];

export function templateView(params: Params): View {
  const isNew = params.id === "new";
  const id = isNew ? null : Number(params.id);
  const heading = h("h1", {}, isNew ? "New template" : "Template");
  const lock = h("p", { class: "badge lock", hidden: true }, "🔒 Managed from files: saving here asks for confirmation, and the next apply from files replaces it.");
  const renderFailure = h("p", { class: "warning", hidden: true });
  const nameInput = h("input", { type: "text", required: true, autocomplete: "off", spellcheck: "false" });
  const descriptionInput = h("input", { type: "text", autocomplete: "off" });
  const activeInput = h("input", { type: "checkbox", id: "template-active", checked: true });
  const configField = jsonField("Config", {}, () => changed());
  const saveButton = h("button", { type: "submit", class: "primary" }, "Save");
  const saveStatus = h("span", { class: "muted", role: "status" });
  const errorBox = h("div", { class: "error", role: "alert" });
  const slots = new Map<keyof Content, HTMLElement>();
  const editors = new Map<keyof Content, CodeEditor>();
  const form = h(
    "form",
    { class: "template-form", novalidate: true },
    field("Name", nameInput),
    ...EDITORS.map(([key, label]) => {
      const slot = h("div", { class: `editor-slot editor-${key}` }, h("p", { class: "muted" }, "Loading editor…"));
      slots.set(key, slot);
      return h("div", { class: "field" }, h("span", { class: "label", id: `label-${key}` }, label), slot);
    }),
    h(
      "details",
      { class: "more" },
      h("summary", {}, "Description, state and config"),
      field("Description", descriptionInput),
      h("div", { class: "check" }, activeInput, h("label", { for: activeInput.id }, "Active (routes using it are served)")),
      configField.el,
    ),
    h("div", { class: "row" }, saveButton, saveStatus, isNew ? null : h("button", { type: "button", class: "danger", onclick: () => void remove() }, "Delete template")),
    errorBox,
  );
  const conflict = h("section", { class: "panel conflict", "aria-labelledby": "conflict-heading", hidden: true });
  const preview = createPreview(id);
  let history: HistoryPanel | null = null;
  const side = h("div", { class: "side" }, preview.el);
  const el = h("div", { class: "template-screen" }, h("div", { class: "bar" }, heading), lock, renderFailure, conflict, h("div", { class: "columns" }, h("div", { class: "main-col" }, form), side));

  let template: Template | null = null;
  let baseVersion: number | null = null;
  let saved: Draft = { name: "", description: "", is_active: true, config: "{}", html_content: "", css_content: "", js_content: "" };
  // The row as the form shows it: a text input drops line breaks, the code editors keep LF
  // for CRLF and CR. A save sends only the fields that differ from this (README, "The admin
  // web UI"), so a value the form cannot show exactly is not rewritten unless edited.
  const asShown = (text: string) => text.replace(/\r\n?/g, "\n");
  const snapshot = (row: Template): Draft => ({
    name: row.name,
    description: (row.description ?? "").replace(/[\r\n]/g, ""),
    is_active: row.is_active,
    config: JSON.stringify(row.config ?? {}, null, 2),
    html_content: asShown(row.html_content),
    css_content: asShown(row.css_content),
    js_content: asShown(row.js_content),
  });
  let saving = false;

  const draft = (): Draft => ({
    name: nameInput.value.trim(),
    description: descriptionInput.value,
    is_active: activeInput.checked,
    config: configField.text(),
    html_content: editors.get("html_content")?.value() ?? saved.html_content,
    css_content: editors.get("css_content")?.value() ?? saved.css_content,
    js_content: editors.get("js_content")?.value() ?? saved.js_content,
  });
  const dirty = () => {
    const now = draft();
    return (Object.keys(now) as (keyof Draft)[]).some((key) => now[key] !== saved[key]);
  };
  let settle = 0;
  const changed = () => {
    // Marked at once (the navigation guard reads it), checked exactly after a pause.
    el.setAttribute("data-dirty", "");
    window.clearTimeout(settle);
    settle = window.setTimeout(() => {
      if (!dirty()) el.removeAttribute("data-dirty");
    }, 200);
    preview.schedule(() => {
      const { html_content, css_content, js_content } = draft();
      return { html_content, css_content, js_content };
    });
  };
  nameInput.addEventListener("input", changed);
  descriptionInput.addEventListener("input", changed);
  activeInput.addEventListener("change", changed);

  const load = (row: Template) => {
    template = row;
    baseVersion = row.version;
    saved = snapshot(row);
    nameInput.value = row.name;
    descriptionInput.value = row.description ?? "";
    activeInput.checked = row.is_active;
    configField.set(row.config);
    for (const [key] of EDITORS) editors.get(key)?.set(row[key]);
    // Exactly what the fields hold now, whatever they made of the row's values.
    saved = draft();
    heading.textContent = `Template ${row.name}`;
    document.title = `${heading.textContent} · dyndash admin`;
    lock.hidden = !managed(row);
    // The cluster stopped rendering this version (README, "Render budget") until a new one.
    renderFailure.hidden = row.render_status !== "failed";
    renderFailure.textContent = `Version ${row.version} failed to render on the gateway: ${row.render_error ?? "no detail"}. Save a fix to render again.`;
    changed();
  };

  const markErrors = (error: ApiError) => {
    for (const [key, editor] of editors) {
      const details = error.details ?? {};
      const mine = details.field === key && typeof details.line === "number";
      editor.markErrors(mine ? [{ line: details.line, message: details.error ?? error.message }] : []);
    }
  };

  async function save(options: { force?: boolean } = {}): Promise<void> {
    if (saving || saveButton.disabled) return;
    const edited = draft();
    // A new template sends every field; an edit only those changed (the API keeps the rest).
    const keys = (Object.keys(edited) as (keyof Draft)[]).filter((key) => id === null || edited[key] !== saved[key]);
    if (!keys.length) {
      saveStatus.textContent = NO_CHANGES;
      el.removeAttribute("data-dirty");
      // After a conflict, mine equal to the server's version leaves nothing to resolve.
      conflict.hidden = true;
      return;
    }
    const body: Record<string, unknown> = {};
    for (const key of keys) body[key] = edited[key];
    if ("config" in body) {
      try {
        body.config = configField.parse();
      } catch {
        return;
      }
    }
    if ("description" in body) body.description = edited.description || null;
    if ("name" in body && !edited.name) {
      errorBox.textContent = "Name: a template needs a name.";
      nameInput.focus();
      return;
    }
    let force = options.force ?? false;
    if (!force && managed(template)) {
      force = await confirmDialog("Save a template managed from files?", "This template is managed from files. Saving here changes it now; the next apply from files replaces your change.");
      if (!force) return;
    }
    saving = true;
    saveStatus.textContent = "Saving…";
    errorBox.textContent = "";
    try {
      const answer =
        id === null
          ? await call<Template>("POST", "/api/v1/templates", { body })
          : await call<Template>("PUT", `/api/v1/templates/${id}`, {
              body,
              ifMatch: baseVersion ?? undefined,
              query: force ? { force: true } : undefined,
            });
      for (const editor of editors.values()) editor.markErrors([]);
      conflict.hidden = true;
      announce(`Saved ${answer.data.name}, version ${answer.data.version}`);
      if (id === null) {
        saved = edited;
        el.removeAttribute("data-dirty");
        await navigate(`/admin/templates/${answer.data.id}`, { replace: true, force: true });
        return;
      }
      const now = draft();
      if ((Object.keys(now) as (keyof Draft)[]).every((key) => now[key] === edited[key])) load(answer.data);
      else {
        // Typed on while the save was in flight: keep that text, on top of the saved version.
        template = answer.data;
        baseVersion = answer.data.version;
        saved = snapshot(answer.data);
        changed();
      }
      saveStatus.textContent = `Saved version ${answer.data.version}`;
      await history?.reload();
    } catch (error) {
      saveStatus.textContent = "";
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 412) await showConflict(edited);
      else if (error.status === 409 && /managed/i.test(`${error.code} ${error.message}`) && !force) {
        if (await confirmDialog("Save a template managed from files?", error.message)) {
          saving = false;
          return save({ force: true });
        }
      } else {
        errorBox.textContent = error.message;
        markErrors(error);
      }
    } finally {
      saving = false;
    }
  }

  async function showConflict(mine: Draft): Promise<void> {
    const server = await get<Template>(`/api/v1/templates/${id}`);
    const diff = await contentDiff(`Server's version ${server.version}`, "Your edit", server, mine);
    const keepMine = h("button", { type: "button", class: "primary" }, "Keep mine");
    const takeTheirs = h("button", { type: "button" }, "Take the server's");
    const merge = h("button", { type: "button" }, "Merge by hand");
    conflict.replaceChildren(
      h("h2", { id: "conflict-heading" }, "Conflict"),
      h(
        "p",
        {},
        `Someone saved version ${server.version} of this template while you edited version ${baseVersion}. Nothing was overwritten. Compare, then choose.`,
      ),
      mine.name !== server.name ? h("p", {}, `Name: server "${server.name}", yours "${mine.name}".`) : "",
      (() => {
        const theirs = snapshot(server);
        const other = (["description", "is_active", "config"] as const).filter((key) => theirs[key] !== mine[key]);
        return other.length ? h("p", {}, `Also different: ${other.join(", ")} (open "Description, state and config").`) : "";
      })(),
      diff,
      h("div", { class: "row" }, keepMine, takeTheirs, merge),
    );
    conflict.hidden = false;
    keepMine.addEventListener("click", () => {
      template = server;
      baseVersion = server.version;
      // Saved over the server's version: every field where mine differs from it is sent.
      saved = snapshot(server);
      void save();
    });
    takeTheirs.addEventListener("click", () => {
      load(server);
      conflict.hidden = true;
      announce(`Loaded the server's version ${server.version}`);
      void history?.reload();
    });
    merge.addEventListener("click", () => {
      // The user's text stays in the editors; the next save is made against the server's
      // version, with its diff left open as the reference.
      template = server;
      baseVersion = server.version;
      saved = snapshot(server);
      keepMine.remove();
      takeTheirs.remove();
      merge.remove();
      conflict.querySelector("p")!.textContent = `Merging by hand against the server's version ${server.version}: edit, then Save.`;
      editors.get("html_content")?.focus();
    });
    conflict.scrollIntoView({ block: "nearest" });
    (conflict.querySelector("h2") as HTMLElement).tabIndex = -1;
  }

  async function remove(): Promise<void> {
    if (!template) return;
    let force = false;
    if (managed(template)) {
      force = await confirmDialog("Delete a template managed from files?", "This template is managed from files: the next apply from files creates it again.");
      if (!force) return;
    } else if (!(await confirmDialog(`Delete ${template.name}?`, "Its history goes with it. Routes and widgets that use it must be changed first (the API refuses otherwise)."))) {
      return;
    }
    try {
      await call("DELETE", `/api/v1/templates/${template.id}`, { ifMatch: baseVersion ?? undefined, query: force ? { force: true } : undefined });
      announce(`Deleted ${template.name}`);
      el.removeAttribute("data-dirty");
      await navigate("/admin/templates", { force: true });
    } catch (error) {
      errorBox.textContent = (error as Error).message;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void save();
  });
  const onKey = (event: KeyboardEvent) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      void save();
    }
  };
  document.addEventListener("keydown", onKey);

  async function start(): Promise<void> {
    // Nothing is typed before the template's own values are in (they would overwrite it).
    const inputs = [nameInput, descriptionInput, activeInput, saveButton];
    for (const input of inputs) input.disabled = true;
    if (id !== null) {
      try {
        const row = await get<Template>(`/api/v1/templates/${id}`);
        template = row;
        saved = snapshot(row);
      } catch (error) {
        errorBox.textContent = (error as Error).message;
        return;
      }
    }
    await Promise.all(
      EDITORS.map(async ([key, label, lang]) => {
        const editor = await createEditor({ label, lang, doc: saved[key], onChange: changed });
        editors.set(key, editor);
        slots.get(key)!.replaceChildren(editor.dom);
      }),
    );
    await configField.ready;
    if (template) load(template);
    for (const input of inputs) input.disabled = false;
    if (id !== null) {
      history = createHistory(id, {
        preview: (version: Version) => preview.showVersion(version.version, version),
        rollback: async (version: number) => {
          try {
            const answer = await call<Template>("POST", `/api/v1/templates/${id}/rollback`, {
              body: { version },
              ifMatch: baseVersion ?? undefined,
              // The rollback was confirmed; a template managed from files says so in its lock.
              query: managed(template) ? { force: true } : undefined,
            });
            load(answer.data);
            announce(answer.message ?? `Rolled back to version ${version}`);
            await history?.reload();
          } catch (error) {
            if (error instanceof ApiError && error.status === 412) await showConflict(draft());
            else announce((error as Error).message, "error");
          }
        },
      });
      side.append(history.el);
      await history.reload();
    } else {
      nameInput.focus();
    }
  }
  void start();

  return {
    el,
    async leave() {
      if (!dirty()) return true;
      return confirmDialog("Leave without saving?", "This template has unsaved changes. They are lost if you leave.", "Leave");
    },
    dispose() {
      document.removeEventListener("keydown", onKey);
      for (const editor of editors.values()) editor.destroy();
    },
  };
}
