// The code editor's face for the views. CodeMirror itself is in its own chunk, loaded on
// first use, so the initial bundle stays small (see the README's budgets).
export type Lang = "html" | "css" | "js" | "json";

export interface EditorOptions {
  label: string;
  lang: Lang;
  doc: string;
  /** Called on every change; read value() when needed (it copies the whole text). */
  onChange?: () => void;
  readOnly?: boolean;
}

export interface CodeEditor {
  readonly dom: HTMLElement;
  value(): string;
  set(text: string): void;
  /** Inline error markers: 1-based line numbers, as the API's 422 details give them. */
  markErrors(errors: { line: number; message: string }[]): void;
  focus(): void;
  destroy(): void;
}

let loading: Promise<typeof import("./cm")> | null = null;

export async function createEditor(options: EditorOptions): Promise<CodeEditor> {
  loading ??= import("./cm");
  return (await loading).create(options);
}
