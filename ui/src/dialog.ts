import { h } from "./dom";

/** A modal confirmation; resolves true on "Confirm" (the name the browser tests use). */
export function confirmDialog(title: string, text: string, confirmLabel = "Confirm"): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "dialog-title", class: "confirm" },
      h("h2", { id: "dialog-title" }, title),
      h("p", {}, text),
    );
    const finish = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => finish(true) }, confirmLabel),
        h("button", { type: "button", onclick: () => finish(false) }, "Cancel"),
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A short message in the page's live status line. */
export function announce(text: string, kind: "ok" | "error" = "ok"): void {
  const status = document.getElementById("status");
  if (!status) return;
  status.textContent = text;
  status.className = kind;
}
