import { all, call } from "../api";
import { announce, confirmDialog } from "../dialog";
import { field, formatTime, h } from "../dom";
import type { View } from "../router";
import { type ApiKey, SCOPES } from "../types";

export function keysView(): View {
  const body = h("tbody");
  const formSlot = h("div");
  const createButton = h("button", { type: "button", class: "primary", onclick: () => openForm() }, "Create key");
  const el = h(
    "div",
    {},
    h("div", { class: "bar" }, h("h1", {}, "API keys"), createButton),
    formSlot,
    h(
      "table",
      { class: "list" },
      h("caption", { class: "sr-only" }, "API keys"),
      h("thead", {}, h("tr", {}, ...["Name", "Prefix", "Scopes", "Created", "Last used", "State", ""].map((n) => h("th", { scope: "col" }, n || h("span", { class: "sr-only" }, "Actions"))))),
      body,
    ),
  );

  const reload = async () => {
    const keys = await all<ApiKey>("/api/v1/keys");
    body.replaceChildren(
      ...keys.map((key) =>
        h(
          "tr",
          {},
          h("td", {}, key.name),
          h("td", {}, h("code", {}, key.prefix)),
          h("td", {}, key.scopes.join(", ")),
          h("td", {}, formatTime(key.created_at)),
          h("td", {}, formatTime(key.last_used_at)),
          h("td", {}, key.revoked_at ? `revoked ${formatTime(key.revoked_at)}` : "active"),
          h(
            "td",
            {},
            key.revoked_at
              ? null
              : h("button", { type: "button", "aria-describedby": `key-${key.id}`, onclick: () => void revoke(key) }, "Revoke"),
            h("span", { id: `key-${key.id}`, class: "sr-only" }, `key ${key.name}`),
          ),
        ),
      ),
    );
  };

  const revoke = async (key: ApiKey) => {
    if (!(await confirmDialog(`Revoke ${key.name}?`, "Requests with this key are refused from now on. This cannot be undone."))) return;
    try {
      await call("DELETE", `/api/v1/keys/${key.id}`);
      announce(`Revoked ${key.name}`);
      await reload();
    } catch (error) {
      announce((error as Error).message, "error");
    }
  };

  const openForm = () => {
    const name = h("input", { type: "text", required: true, autocomplete: "off" });
    const days = h("input", { type: "number", min: "1", max: "3650", step: "1", inputmode: "numeric" });
    const scopes = SCOPES.map((scope) => h("input", { type: "checkbox", value: scope, id: `scope-${scope}` }));
    const error = h("p", { class: "error", role: "alert" });
    const result = h("div");
    const form = h(
      "form",
      { class: "panel", "aria-labelledby": "new-key-heading" },
      h("h2", { id: "new-key-heading" }, "New key"),
      field("Key name", name),
      field("Expires in days", days, "empty: never expires"),
      h(
        "fieldset",
        {},
        h("legend", {}, "Scopes"),
        ...scopes.map((box) => h("div", { class: "check" }, box, h("label", { for: box.id }, box.value))),
      ),
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Create"), h("button", { type: "button", onclick: () => formSlot.replaceChildren() }, "Close")),
      error,
      result,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        const answer = await call<ApiKey & { secret: string }>("POST", "/api/v1/keys", {
          body: {
            name: name.value.trim(),
            scopes: scopes.filter((box) => box.checked).map((box) => box.value),
            expires_at: days.value ? new Date(Date.now() + Number(days.value) * 86_400_000).toISOString() : null,
          },
        });
        const secret = h("input", { type: "text", readOnly: true, value: answer.data.secret, class: "secret", spellcheck: "false" });
        const copy = h("button", { type: "button" }, "Copy");
        copy.addEventListener("click", async () => {
          secret.select();
          try {
            await navigator.clipboard.writeText(secret.value);
            copy.textContent = "Copied";
          } catch {
            copy.textContent = "Select and copy";
          }
        });
        result.replaceChildren(
          h("p", { class: "warning" }, "This secret is shown once. Copy it now: it cannot be shown again."),
          h("div", { class: "row" }, field("Secret", secret), copy),
        );
        announce(`Created key ${answer.data.name}`);
        await reload();
      } catch (failure) {
        error.textContent = (failure as Error).message;
      }
    });
    formSlot.replaceChildren(form);
    name.focus();
  };

  reload().catch((error: Error) => announce(error.message, "error"));
  return { el };
}
