// Prints the initial JS (the entry and what index.html preloads) gzipped, and fails the build
// over the budget of the README's admin UI section. The editor and diff chunks load on demand.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 300 * 1024;
const index = readFileSync("dist/index.html", "utf8");
const initial = [...index.matchAll(/(?:src|href)="\/admin\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
const size = (file) => gzipSync(readFileSync(`dist/${file}`), { level: 9 }).length;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
let total = 0;
for (const file of initial) total += size(file);
const lazy = readdirSync("dist/assets").filter((f) => f.endsWith(".js") && !initial.includes(`assets/${f}`));
const lazyTotal = lazy.reduce((sum, f) => sum + size(`assets/${f}`), 0);
console.log(`admin UI budget: initial JS ${kb(total)} gzip (budget ${kb(BUDGET)}), ${initial.length} file(s); on demand ${kb(lazyTotal)} gzip in ${lazy.length} chunk(s)`);
if (total > BUDGET) {
  console.error("admin UI budget exceeded: initial JS over 300 KB gzip");
  process.exit(1);
}
