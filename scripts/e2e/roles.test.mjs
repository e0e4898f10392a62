// The role matrix in the browser: each role's navigation is exactly the pages its role may
// use (the list comes from the UI's own table, checked against the API by
// api/tests/api/ui_story.rs), every offered page renders without a page error, and each main
// page is photographed at 1280 px and 390 px (and in the dark theme) for review.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, open, signIn, shot } from "./browser.mjs";

const roles = JSON.parse(process.env.FREEWAY_E2E_ROLES ?? "[]");
if (roles.length === 0) throw new Error("FREEWAY_E2E_ROLES is not set: run this from api/tests/api/ui_story.rs");

test("each role sees exactly its pages, and each renders", { timeout: 240_000 }, async (t) => {
  const browser = await launch();
  try {
    for (const { role, user, password, pages } of roles) {
      await t.test(role, async () => {
        const { context, page, problems } = await open(browser, { zone: "Asia/Tokyo" });
        try {
          await signIn(page, user, password);
          await page.getByTestId("whoami").waitFor();
          const shown = await page.locator('[data-testid="nav"] a').evaluateAll((links) =>
            links.map((a) => a.dataset.testid.replace(/^nav-/, "")));
          assert.deepEqual(shown, pages, `${role}'s navigation`);
          for (const slug of pages) {
            await page.getByTestId(`nav-${slug}`).click();
            await page.locator(".content h1").first().waitFor();
            await page.waitForLoadState("networkidle");
            const everyWidth = role === "instance_admin" || slug === "overview";
            if (everyWidth) {
              await page.setViewportSize({ width: 1280, height: 900 });
              await shot(page, `${role}-${slug}-1280`);
              await page.setViewportSize({ width: 390, height: 844 });
              await shot(page, `${role}-${slug}-390`);
              // No page is wider than a phone.
              const { overflow, culprits } = await page.evaluate(() => {
                const width = window.innerWidth;
                const culprits = [...document.querySelectorAll("body *")]
                  .filter((e) => e.getBoundingClientRect().right > width + 1)
                  .slice(0, 8)
                  .map((e) => `${e.tagName.toLowerCase()}.${e.className}[${e.dataset.testid ?? ""}] ${Math.round(e.getBoundingClientRect().right)}px`);
                return { overflow: document.documentElement.scrollWidth - width, culprits };
              });
              assert.ok(overflow <= 1, `${role} ${slug} scrolls sideways by ${overflow}px at 390px: ${culprits.join("; ")}`);
              await page.setViewportSize({ width: 1280, height: 900 });
            }
            // At 390 px the navigation folds behind the menu button; at 1280 it is open.
          }
          await page.emulateMedia({ colorScheme: "dark" });
          await page.getByTestId("nav-overview").click();
          await page.waitForLoadState("networkidle");
          await shot(page, `${role}-overview-dark`);
          assert.deepEqual(problems, [], `${role}: no page errors`);
        } finally {
          await context.close();
        }
      });
    }
  } finally {
    await browser.close();
  }
});
