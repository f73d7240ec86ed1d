import { ApiError, get, session } from "./api";
import { clear, field, h } from "./dom";
import { BASE, link, route, start } from "./router";
import { dashboardView, dashboardsView } from "./views/dashboards";
import { eventsView } from "./views/events";
import { keysView } from "./views/keys";
import { routesView } from "./views/routes";
import { templateView } from "./views/template";
import { templatesView } from "./views/templates";

const app = document.getElementById("app")!;

function signInScreen(reason?: string): void {
  const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true });
  const error = h("p", { class: "error", role: "alert" }, reason ?? "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "signin",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        button.disabled = true;
        session.signIn(key);
        try {
          // Any valid key may read admin resources: this checks the key without side effects.
          await get("/api/v1/templates", { limit: 1 });
          shell();
        } catch (failure) {
          // A 401 has already brought a fresh sign-in screen with its reason.
          if (!(failure instanceof ApiError && failure.status === 401)) {
            error.textContent = (failure as Error).message;
            button.disabled = false;
          }
        }
      },
    },
    h("h1", {}, "dyndash admin"),
    h("p", {}, "Paste an API key. It is kept in this tab only (sessionStorage) and sent as X-API-Key."),
    field("API key", input),
    button,
    error,
  );
  clear(app, h("main", { id: "main" }, form));
  input.focus();
}

function shell(): void {
  const outlet = h("div", { class: "outlet" });
  const nav = h(
    "nav",
    { "aria-label": "Main" },
    h("span", { class: "brand" }, "dyndash"),
    h(
      "ul",
      {},
      h("li", {}, link("templates", "Templates", { "data-home": "" })),
      h("li", {}, link("routes", "Routes")),
      h("li", {}, link("dashboards", "Dashboards")),
      h("li", {}, link("keys", "Keys")),
      h("li", {}, link("events", "Events")),
    ),
    h("button", { type: "button", class: "signout", onclick: () => session.signOut() }, "Sign out"),
  );
  clear(
    app,
    h("header", {}, nav),
    h("main", { id: "main" }, outlet),
    h("footer", {}, h("p", { id: "status", role: "status", "aria-live": "polite" })),
  );
  start(outlet, () => h404());
}

function h404() {
  return { el: h("div", {}, h("h1", {}, "Not found"), h("p", {}, link("templates", "Back to templates"))) };
}

route("/", templatesView);
route("/templates", templatesView);
route("/templates/new", () => templateView({ id: "new" }));
route("/templates/:id", templateView);
route("/routes", routesView);
route("/dashboards", dashboardsView);
route("/dashboards/:id", dashboardView);
route("/keys", keysView);
route("/events", eventsView);

window.addEventListener("dyndash:signed-out", (event) => {
  if (!location.pathname.startsWith(BASE)) history.replaceState(null, "", BASE);
  signInScreen((event as CustomEvent<string | undefined>).detail);
});

if (session.key()) shell();
else signInScreen();
