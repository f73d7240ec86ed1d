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
  // Only a missing value is shown as {}: a stored null (widget data may be) stays null.
  let text = JSON.stringify(value === undefined ? {} : value, null, 2);
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
      text = JSON.stringify(next === undefined ? {} : next, null, 2);
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

/** One field of a form: its text as the form shows it, and the value a save sends. */
export interface Tracked {
  text(): string;
  value(): unknown;
}

/**
 * A form's fields as it first showed them. `changes()` gives only the fields whose text the
 * user changed since, so saving an unchanged form sends nothing: a value a field cannot show
 * exactly (null as an empty input, 1.0 as 1 after JSON.parse, CRLF as LF in the code editor,
 * a handler_config key the API no longer accepts) is never written back unless edited
 * (README, "The admin web UI"). `value()` may throw (JSON not valid): only edited fields parse.
 */
export function baseline(fields: Record<string, Tracked>): { changes(): Record<string, unknown>; values(): Record<string, unknown> } {
  const shown = new Map(Object.entries(fields).map(([name, tracked]) => [name, tracked.text()]));
  return {
    /** Every field, for a create. */
    values: () => Object.fromEntries(Object.entries(fields).map(([name, tracked]) => [name, tracked.value()])),
    changes() {
      const changed: Record<string, unknown> = {};
      for (const [name, tracked] of Object.entries(fields)) {
        if (tracked.text() !== shown.get(name)) changed[name] = tracked.value();
      }
      return changed;
    },
  };
}

/** An input's or select's text, sent as `value`. */
export function tracked(control: HTMLInputElement | HTMLSelectElement, value: (text: string) => unknown = (text) => text): Tracked {
  return { text: () => control.value, value: () => value(control.value) };
}

/** A checkbox, sent as a boolean. */
export function trackedCheck(box: HTMLInputElement): Tracked {
  return { text: () => String(box.checked), value: () => box.checked };
}

/** A JSON editor, sent parsed (a parse error shows under the field and throws). */
export function trackedJson(editor: JsonField): Tracked {
  return { text: () => editor.text(), value: () => editor.parse() };
}

export const NO_CHANGES = "No changes to save";

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
