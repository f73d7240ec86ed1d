import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { css } from "@codemirror/lang-css";
import { html } from "@codemirror/lang-html";
import { javascript } from "@codemirror/lang-javascript";
import { jinja } from "@codemirror/lang-jinja";
import { json } from "@codemirror/lang-json";
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { type Diagnostic, lintGutter, setDiagnostics } from "@codemirror/lint";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import {
  Decoration,
  drawSelection,
  EditorView,
  highlightActiveLine,
  keymap,
  lineNumbers,
  MatchDecorator,
  ViewPlugin,
  type ViewUpdate,
} from "@codemirror/view";
import { tags as t } from "@lezer/highlight";

import type { CodeEditor, EditorOptions, Lang } from "./editor";

// Every colour has at least 4.5:1 contrast on the white editor background (WCAG AA);
// CodeMirror's default highlight style does not (its comments and some literals fall short).
const accessible = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.operatorKeyword, t.moduleKeyword], color: "#7b1fa2" },
  { tag: [t.tagName, t.typeName, t.className], color: "#0b4f9c" },
  { tag: [t.attributeName, t.propertyName], color: "#8a4300" },
  { tag: [t.string, t.special(t.string), t.attributeValue, t.regexp], color: "#17692b" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "#a3261b" },
  { tag: [t.comment, t.blockComment, t.lineComment], color: "#545b62", fontStyle: "italic" },
  { tag: [t.brace, t.bracket, t.angleBracket, t.punctuation, t.separator], color: "#3b3f44" },
  { tag: [t.variableName, t.definition(t.variableName)], color: "#1d2a3a" },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: "#6b3e00" },
  { tag: t.invalid, color: "#b00020" },
]);

const theme = EditorView.theme({
  "&": { fontSize: "13px", border: "1px solid #6b7280", borderRadius: "4px", backgroundColor: "#fff" },
  "&.cm-focused": { outline: "2px solid #1a56db", outlineOffset: "1px" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
  ".cm-gutters": { backgroundColor: "#f3f4f6", color: "#374151", borderRight: "1px solid #d1d5db" },
  ".cm-activeLine": { backgroundColor: "#eef4ff" },
  ".cm-content": { color: "#1f2328" },
  ".cm-jinja": { color: "#6a1b9a", backgroundColor: "#f7f0fb" },
});

// Jinja's parser runs over HTML as a mixed-language overlay, which reparses the whole document
// on every keystroke: about 5 ms per 100 lines. Past this size the editor keeps HTML's
// incremental parser and marks Jinja tags in the visible lines only, so typing stays under
// the 50 ms long-task budget (bench/admin_ui.py).
const FULL_JINJA_MAX_LINES = 400;

const jinjaMarks = new MatchDecorator({
  regexp: /\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}/g,
  decoration: Decoration.mark({ class: "cm-jinja" }),
});
const jinjaTags = ViewPlugin.define(
  (view) => ({
    decorations: jinjaMarks.createDeco(view),
    update(update: ViewUpdate) {
      this.decorations = jinjaMarks.updateDeco(update, this.decorations);
    },
  }),
  { decorations: (plugin) => plugin.decorations },
);

function language(lang: Lang, lines: number): Extension {
  switch (lang) {
    case "html":
      return lines > FULL_JINJA_MAX_LINES
        ? [html({ autoCloseTags: false }), jinjaTags]
        : jinja({ base: html({ autoCloseTags: false }) });
    case "css":
      return css();
    case "js":
      return javascript();
    case "json":
      return json();
  }
}

export function create(options: EditorOptions): CodeEditor {
  const grammar = new Compartment();
  let large = options.doc.split("\n").length > FULL_JINJA_MAX_LINES;
  const view: EditorView = new EditorView({
    state: EditorState.create({
      doc: options.doc,
      extensions: [
        lineNumbers(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(accessible),
        lintGutter(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        grammar.of(language(options.lang, large ? Infinity : 0)),
        theme,
        EditorState.readOnly.of(options.readOnly ?? false),
        EditorView.contentAttributes.of({ "aria-label": options.label }),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          options.onChange?.();
          const nowLarge = update.state.doc.lines > FULL_JINJA_MAX_LINES;
          if (options.lang === "html" && nowLarge !== large) {
            large = nowLarge;
            // Not from inside an update: CodeMirror refuses nested dispatches.
            queueMicrotask(() => view.dispatch({ effects: grammar.reconfigure(language("html", large ? Infinity : 0)) }));
          }
        }),
      ],
    }),
  });
  return {
    dom: view.dom,
    value: () => view.state.doc.toString(),
    set(text: string) {
      // After a save the text is usually what is there: keep the cursor and undo history.
      if (text === view.state.doc.toString()) return;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    markErrors(errors) {
      const diagnostics: Diagnostic[] = errors
        .filter((error) => error.line >= 1 && error.line <= view.state.doc.lines)
        .map((error) => {
          const line = view.state.doc.line(error.line);
          return { from: line.from, to: line.to, severity: "error", message: error.message };
        });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
