// At scale (api/tests/api/ui_story.rs seeds 10,000 api keys and 200,000 usage events): every
// list page asks the server for one page of rows, never for everything, and renders at most
// that page. Also prints how long each page took from navigation to its data on screen
// ("PAGE LOAD" lines, the median of a few loads); scripts/bench-ui.sh reports them. Timing is
// printed, never asserted: a busy machine must not fail the suite.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, open, signIn } from "./browser.mjs";

const { user, password, tenant, member } = JSON.parse(process.env.FREEWAY_E2E_SCALE ?? "{}");
if (!user) throw new Error("FREEWAY_E2E_SCALE is not set: run this from api/tests/api/ui_story.rs");
const LOADS = Number(process.env.FREEWAY_E2E_LOADS ?? 3);

const pages = [
  { name: "requests", path: "/requests", row: "request-row", list: "/admin/v1/requests" },
  { name: "keys", path: `/tenants/${tenant}/members/${member}`, row: "key-row", list: `/admin/v1/tenants/${tenant}/members/${member}/keys` },
  { name: "members", path: `/tenants/${tenant}`, row: "member-row", list: `/admin/v1/tenants/${tenant}/members` },
  { name: "tenants", path: "/tenants", row: "tenant-row", list: "/admin/v1/tenants" },
  { name: "audit", path: "/audit", row: "audit-row", list: "/admin/v1/audit" },
  { name: "overview", path: "/?range=30d", row: "group-row", list: "/admin/v1/usage/summary" },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test("list pages fetch one page at scale", { timeout: 240_000 }, async (t) => {
  const browser = await launch();
  const { context, page, calls } = await open(browser);
  try {
    await signIn(page, user, password);
    await page.getByTestId("whoami").waitFor();
    for (const p of pages) {
      await t.test(p.name, async () => {
        const times = [];
        for (let i = 0; i < LOADS; i++) {
          // Leave for a page without the list, then navigate inside the app as a person does.
          await page.getByTestId("nav-account").click();
          await page.locator(".content h1").first().waitFor();
          await page.waitForLoadState("networkidle");
          calls.length = 0;
          const started = Date.now();
          await page.evaluate((path) => {
            history.pushState({}, "", path);
            dispatchEvent(new PopStateEvent("popstate"));
          }, p.path);
          await page.getByTestId(p.row).first().waitFor();
          times.push(Date.now() - started);
          await page.waitForLoadState("networkidle");
          const lists = calls.filter((c) => c.path === p.list && c.method === "GET");
          assert.ok(lists.length >= 1, `${p.name}: the list was fetched`);
          for (const c of lists) {
            const limit = Number(c.query.get("limit") ?? 50);
            assert.ok(limit <= 200, `${p.name}: asked for ${limit} rows`);
          }
          const rows = await page.getByTestId(p.row).count();
          assert.ok(rows <= 200, `${p.name}: ${rows} rows rendered`);
        }
        const everyList = calls.filter((c) => c.path === p.list).length;
        console.log(`PAGE LOAD ${p.name}: median ${median(times)} ms of ${times.join(", ")} ms; ${everyList} list call(s) on the last load`);
      });
    }
  } finally {
    await context.close();
    await browser.close();
  }
});
