// Side-by-side line diffs. The diff library is loaded on first use, like the editor.
import { h } from "./dom";

type Row = [string | null, string | null, "same" | "changed"];

function lines(text: string): string[] {
  const parts = text.split("\n");
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

async function rows(left: string, right: string): Promise<Row[]> {
  const { diffLines } = await import("diff");
  const out: Row[] = [];
  let removed: string[] = [];
  const flush = (added: string[]) => {
    const count = Math.max(removed.length, added.length);
    for (let i = 0; i < count; i++) out.push([removed[i] ?? null, added[i] ?? null, "changed"]);
    removed = [];
  };
  // A last line without its newline would differ from the same line with one.
  const ended = (text: string) => (text === "" || text.endsWith("\n") ? text : `${text}\n`);
  for (const part of diffLines(ended(left), ended(right))) {
    if (part.removed) {
      removed.push(...lines(part.value));
    } else if (part.added) {
      flush(lines(part.value));
    } else {
      flush([]);
      for (const line of lines(part.value)) out.push([line, line, "same"]);
    }
  }
  flush([]);
  return out;
}

/** A table with `leftTitle` and `rightTitle` columns; changed lines marked, not only coloured. */
export async function sideBySide(label: string, leftTitle: string, rightTitle: string, left: string, right: string): Promise<HTMLElement> {
  const table = h(
    "table",
    { class: "diff" },
    h("caption", {}, label),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, leftTitle), h("th", { scope: "col" }, rightTitle))),
  );
  const body = h("tbody");
  const all = await rows(left, right);
  for (const [a, b, kind] of all) {
    const cell = (text: string | null, side: "old" | "new") =>
      h(
        "td",
        { class: kind === "changed" ? (text === null ? "empty" : side) : "" },
        kind === "changed" && text !== null ? h("span", { class: "mark", "aria-hidden": "true" }, side === "old" ? "− " : "+ ") : null,
        text ?? "",
      );
    body.append(h("tr", { class: kind }, cell(a, "old"), cell(b, "new")));
  }
  table.append(body);
  const changes = all.filter((row) => row[2] === "changed").length;
  return h("div", { class: "diff-wrap", tabindex: "0", role: "group", "aria-label": `${label}: ${changes} changed lines` }, table);
}

export const FIELDS: [key: "html_content" | "css_content" | "js_content", label: string][] = [
  ["html_content", "HTML"],
  ["css_content", "CSS"],
  ["js_content", "JS"],
];

/** Diffs of each content field that differs; a note when none does. */
export async function contentDiff(
  leftTitle: string,
  rightTitle: string,
  left: object,
  right: object,
): Promise<HTMLElement> {
  const box = h("div", { class: "diffs" });
  const text = (side: object, key: string) => String((side as Record<string, unknown>)[key] ?? "");
  for (const [key, label] of FIELDS) {
    if (text(left, key) === text(right, key)) continue;
    box.append(await sideBySide(label, leftTitle, rightTitle, text(left, key), text(right, key)));
  }
  if (!box.childElementCount) box.append(h("p", {}, "No differences in HTML, CSS or JS."));
  return box;
}
