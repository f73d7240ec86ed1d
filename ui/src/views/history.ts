// Every version of a template: select one to compare it with any other, preview it, or roll
// back to it. The list holds summaries only; contents are fetched for the versions compared,
// so a long history of large templates stays light.
import { all, get } from "../api";
import { contentDiff } from "../diffview";
import { confirmDialog } from "../dialog";
import { field, formatTime, h } from "../dom";
import type { Version, VersionSummary } from "../types";

export interface HistoryPanel {
  el: HTMLElement;
  reload(): Promise<void>;
}

export interface HistoryActions {
  preview(version: Version): void;
  rollback(version: number): Promise<void>;
}

export function createHistory(templateId: number, actions: HistoryActions): HistoryPanel {
  const list = h("ul", { role: "listbox", "aria-label": "Versions", class: "versions", tabindex: "0" });
  const compare = h("select", {});
  const diff = h("div", { class: "history-diff" });
  const previewButton = h("button", { type: "button", disabled: true }, "Preview version");
  const rollbackButton = h("button", { type: "button", disabled: true }, "Rollback");
  const el = h(
    "section",
    { class: "panel history", "aria-labelledby": "history-heading" },
    h("h2", { id: "history-heading" }, "History"),
    list,
    h("div", { class: "row" }, field("Compare with", compare), previewButton, rollbackButton),
    diff,
  );
  let versions: VersionSummary[] = [];
  let selected: number | null = null;
  const cache = new Map<number, Version>();

  const load = async (n: number): Promise<Version> => {
    let version = cache.get(n);
    if (!version) {
      version = await get<Version>(`/api/v1/templates/${templateId}/versions/${n}`);
      cache.set(n, version);
    }
    return version;
  };

  const select = async (n: number) => {
    selected = n;
    for (const item of list.children) {
      const on = (item as HTMLElement).dataset.version === String(n);
      item.setAttribute("aria-selected", String(on));
      (item as HTMLElement).tabIndex = on ? 0 : -1;
    }
    previewButton.disabled = rollbackButton.disabled = false;
    const newest = versions[0]?.version;
    if (!compare.value || compare.value === String(n)) {
      const other = n === newest ? versions[1]?.version : newest;
      if (other !== undefined) compare.value = String(other);
    }
    await showDiff();
  };

  const showDiff = async () => {
    if (selected === null || !compare.value) {
      diff.replaceChildren();
      return;
    }
    const other = Number(compare.value);
    const [left, right] = await Promise.all([load(selected), load(other)]);
    diff.replaceChildren(
      await contentDiff(`Version ${selected}`, `Version ${other}`, left, right),
    );
  };

  compare.addEventListener("change", () => void showDiff());
  list.addEventListener("keydown", (event: KeyboardEvent) => {
    const index = versions.findIndex((v) => v.version === selected);
    const step = event.key === "ArrowDown" ? 1 : event.key === "ArrowUp" ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = versions[Math.min(Math.max(index + step, 0), versions.length - 1)];
    if (next) {
      void select(next.version);
      (list.querySelector(`[data-version="${next.version}"]`) as HTMLElement | null)?.focus();
    }
  });
  previewButton.addEventListener("click", async () => {
    if (selected !== null) actions.preview(await load(selected));
  });
  rollbackButton.addEventListener("click", async () => {
    if (selected === null) return;
    const n = selected;
    const ok = await confirmDialog(
      `Roll back to version ${n}?`,
      `This saves a new version with the content of version ${n}; the history keeps every version. Unsaved edits in the editor are replaced.`,
    );
    if (ok) await actions.rollback(n);
  });

  return {
    el,
    async reload() {
      versions = (await all<VersionSummary>(`/api/v1/templates/${templateId}/versions`)).sort((a, b) => b.version - a.version);
      list.replaceChildren(
        ...versions.map((v) =>
          h(
            "li",
            {
              role: "option",
              "aria-selected": "false",
              tabindex: "-1",
              "data-version": String(v.version),
              onclick: () => void select(v.version),
            },
            h("strong", {}, `Version ${v.version}`),
            h("span", { class: "muted" }, ` · ${formatTime(v.created_at)}${v.message ? ` · ${v.message}` : ""}`),
          ),
        ),
      );
      const keep = compare.value;
      compare.replaceChildren(...versions.map((v) => h("option", { value: String(v.version) }, `Version ${v.version}`)));
      if (keep && versions.some((v) => String(v.version) === keep)) compare.value = keep;
      else compare.value = "";
      if (selected !== null && versions.some((v) => v.version === selected)) await select(selected);
      else {
        selected = null;
        previewButton.disabled = rollbackButton.disabled = true;
        diff.replaceChildren();
      }
    },
  };
}
