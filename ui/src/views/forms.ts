// Shared pieces of the routes and dashboards screens.
import { ApiError, managed } from "../api";
import { confirmDialog } from "../dialog";
import { h } from "../dom";
import { type CodeEditor, createEditor } from "../editor";

/** A JSON editor: parse errors are caught before the request, the API's after. */
export interface JsonField {
  el: HTMLElement;
  parse(): unknown;
  /** The text as typed (before parsing). */
  text(): string;
  set(value: unknown): void;
  ready: Promise<CodeEditor>;
}

export function jsonField(label: string, value: unknown, onChange?: () => void): JsonField {
  const id = `label-${label.toLowerCase().replace(/\W+/g, "-")}`;
  const slot = h("div", { class: "editor-slot small" });
  const message = h("p", { class: "error", role: "alert" });
  // Until the editor has loaded, the text lives here (a set() before then is not lost).
  let text = JSON.stringify(value ?? {}, null, 2);
  let editor: CodeEditor | null = null;
  const ready = createEditor({ label, lang: "json", doc: text, onChange }).then((created) => {
    if (created.value() !== text) created.set(text);
    editor = created;
    slot.replaceChildren(created.dom);
    return created;
  });
  return {
    el: h("div", { class: "field" }, h("span", { class: "label", id }, label), slot, message),
    ready,
    text: () => editor?.value() ?? text,
    set(next: unknown) {
      text = JSON.stringify(next ?? {}, null, 2);
      editor?.set(text);
    },
    parse() {
      message.textContent = "";
      try {
        return JSON.parse(editor?.value() ?? text);
      } catch (error) {
        message.textContent = `${label}: not valid JSON (${(error as Error).message})`;
        throw error;
      }
    },
  };
}

/** The API's message: a 422 names each refused field in it. */
export function explain(error: unknown): string {
  return error instanceof ApiError ? error.message : (error as Error).message;
}

/** Writes to objects managed from files ask first and are then forced (see the README). */
export async function confirmManaged(entity: { managed_by?: string | null } | null, what: string): Promise<boolean | null> {
  if (!managed(entity)) return false;
  const ok = await confirmDialog(`Change a ${what} managed from files?`, `This ${what} is managed from files: the next apply from files replaces your change.`);
  return ok ? true : null;
}

export function lockBadge(entity: { managed_by?: string | null }): HTMLElement | null {
  return managed(entity) ? h("span", { class: "badge lock", title: "managed from files" }, "🔒 files") : null;
}
