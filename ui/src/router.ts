// History-API routing under /admin/ (the admin API answers index.html for every client path).
export interface View {
  el: HTMLElement;
  /** Resolves false to stay: unsaved changes are guarded on navigation. */
  leave?: () => Promise<boolean>;
  dispose?: () => void;
}

export type Params = Record<string, string>;
type Factory = (params: Params) => View;

export const BASE = "/admin/";
const table: [RegExp, string[], Factory][] = [];
let current: View | null = null;
let shownPath = "";
let outlet: HTMLElement;
let notFound: Factory;

export function route(pattern: string, factory: Factory): void {
  const names: string[] = [];
  const source = pattern.replace(/:([a-z]+)/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  table.push([new RegExp(`^${source}/?$`), names, factory]);
}

export function start(into: HTMLElement, fallback: Factory): void {
  outlet = into;
  notFound = fallback;
  document.addEventListener("click", (event) => {
    const link = (event.target as Element).closest?.("a[data-route]") as HTMLAnchorElement | null;
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    void navigate(link.pathname);
  });
  window.addEventListener("popstate", () => void render(location.pathname));
  window.addEventListener("beforeunload", (event) => {
    if (current?.leave && document.querySelector("[data-dirty]")) event.preventDefault();
  });
  void render(location.pathname);
}

export async function navigate(path: string, options: { replace?: boolean; force?: boolean } = {}): Promise<void> {
  if (!options.force && current?.leave && !(await current.leave())) return;
  if (options.replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  await render(path, true);
}

async function render(pathname: string, guarded = false): Promise<void> {
  if (!guarded && current?.leave && !(await current.leave())) {
    // Back/forward already moved the URL: put back the one still shown.
    history.pushState(null, "", shownPath);
    return;
  }
  shownPath = pathname;
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length - 1) : "/";
  current?.dispose?.();
  // A status message belongs to the screen it was said on.
  const status = document.getElementById("status");
  if (status) status.textContent = "";
  let view: View | null = null;
  for (const [pattern, names, factory] of table) {
    const match = pattern.exec(path === "" ? "/" : path);
    if (!match) continue;
    const params: Params = {};
    names.forEach((name, index) => (params[name] = decodeURIComponent(match[index + 1])));
    view = factory(params);
    break;
  }
  current = view ?? notFound({});
  outlet.replaceChildren(current.el);
  for (const link of document.querySelectorAll<HTMLAnchorElement>("nav a[data-route]")) {
    const active = path.startsWith(link.pathname.slice(BASE.length - 1)) || (path === "/" && link.dataset.home !== undefined);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const heading = outlet.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · dyndash admin`;
}

export function link(path: string, text: string, attrs: Record<string, string> = {}): HTMLAnchorElement {
  const anchor = document.createElement("a");
  anchor.href = BASE + path.replace(/^\//, "");
  anchor.dataset.route = "";
  anchor.textContent = text;
  for (const [name, value] of Object.entries(attrs)) anchor.setAttribute(name, value);
  return anchor;
}
