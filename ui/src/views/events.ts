// The live change feed, GET /api/v1/events. EventSource cannot send X-API-Key, so the
// stream is read with fetch; a dropped stream resumes with Last-Event-ID.
import { session } from "../api";
import { field, h } from "../dom";
import type { View } from "../router";

interface Received {
  id: string;
  type: string;
  data: string;
  at: Date;
}

const KEEP = 500;

export function eventsView(): View {
  const filter = h("select", {}, h("option", { value: "" }, "all types"));
  const list = h("ol", { class: "events", reversed: true });
  const state = h("p", { class: "muted", role: "status" }, "Connecting…");
  const el = h(
    "div",
    {},
    h("h1", {}, "Events"),
    h("p", { class: "muted" }, "Change events as they commit (GET /api/v1/events): what gateways and renderers react to."),
    h(
      "section",
      { class: "panel", "aria-label": "Events" },
      h("div", { class: "row" }, field("Type", filter), state),
      list,
    ),
  );
  const received: Received[] = [];
  const types = new Set<string>();
  const abort = new AbortController();
  let lastId: string | null = null;

  const row = (event: Received) =>
    h(
      "li",
      { "data-type": event.type, hidden: !!filter.value && filter.value !== event.type },
      h("code", { class: "event-type" }, event.type),
      h("span", { class: "muted" }, ` #${event.id} · ${event.at.toLocaleTimeString()} · `),
      h("code", {}, event.data),
    );
  filter.addEventListener("change", () => {
    for (const item of list.children) (item as HTMLElement).hidden = !!filter.value && (item as HTMLElement).dataset.type !== filter.value;
  });

  const add = (event: Received) => {
    received.unshift(event);
    list.prepend(row(event));
    if (received.length > KEEP) {
      received.pop();
      list.lastElementChild?.remove();
    }
    if (!types.has(event.type)) {
      types.add(event.type);
      filter.append(h("option", { value: event.type }, event.type));
    }
  };

  async function follow(): Promise<void> {
    let delay = 500;
    while (!abort.signal.aborted) {
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream", "X-API-Key": session.key() ?? "" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch("/api/v1/events", { headers, signal: abort.signal, credentials: "omit", cache: "no-store" });
        if (response.status === 401) {
          session.signOut("The API key is not valid (mistyped, revoked or expired). Sign in again.");
          return;
        }
        if (response.status === 403) {
          state.textContent = "This API key lacks the events:read scope.";
          return;
        }
        if (!response.ok || !response.body) throw new Error(`${response.status}`);
        state.textContent = "Live";
        delay = 500;
        await read(response.body);
      } catch (error) {
        if (abort.signal.aborted) return;
        state.textContent = `Disconnected; reconnecting (${(error as Error).message})`;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  async function read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replaceAll("\r\n", "\n");
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = "";
        let type = "message";
        const data: string[] = [];
        for (const line of frame.split("\n")) {
          const colon = line.indexOf(":");
          if (colon === 0) continue;
          const name = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "id") id = text;
          else if (name === "event") type = text;
          else if (name === "data") data.push(text);
        }
        if (id) lastId = id;
        if (type === "error" || type === "closing") {
          state.textContent = type === "error" ? `Stream ended: ${data.join("\n")}` : "Server restarting; reconnecting";
          continue;
        }
        if (data.length) add({ id, type, data: data.join("\n"), at: new Date() });
      }
    }
  }

  void follow();
  return { el, dispose: () => abort.abort() };
}
