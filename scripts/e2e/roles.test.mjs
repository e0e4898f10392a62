// The role matrix in the browser: each role's navigation is exactly the pages its role may
// use (the list comes from the UI's own table, checked against the API by
// api/tests/api/ui_story.rs), every offered page renders without a page error, and each main
// page is photographed at 1280 px and 390 px (and in the dark theme) for review.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, open, signIn, fillSignIn, shot, eventually } from "./browser.mjs";

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
    // Last, since wrong passwords throttle this client's address for the rest of the run.
    const admin = roles.find((r) => r.role === "instance_admin");
    await t.test("an expired session returns to sign-in with a message, then to its page", async () => {
      const { context, page } = await open(browser);
      try {
        await page.goto(`${BASE}/login`);
        await page.evaluate(() => localStorage.setItem("freeway.token", "eyJhbGciOiJIUzI1NiJ9.e30.expired"));
        await page.goto(`${BASE}/requests?status=429`);
        await page.getByTestId("expired").waitFor();
        assert.match(page.url(), /\/login\?expired=1&next=%2Frequests%3Fstatus%3D429/);
        await fillSignIn(page, admin.user, admin.password);
        await page.getByTestId("whoami").waitFor();
        await page.waitForURL(/\/requests\?status=429/, { waitUntil: "commit" });
        assert.equal(await page.getByTestId("filter-status").inputValue(), "429");
      } finally {
        await context.close();
      }
    });
    await t.test("login throttling is a countdown", async () => {
      const { context, page } = await open(browser);
      try {
        await page.goto(`${BASE}/login`);
        await page.getByLabel("Username").fill(admin.user);
        const button = page.getByRole("button", { name: /Sign in/ });
        const countdown = page.getByTestId("countdown");
        // Five wrong passwords are free; then each wait doubles (1, 2, 4 s): go on until
        // one is long enough to watch.
        let first = 0;
        for (let i = 0; i < 12 && first < 3; i++) {
          await eventually("the button is enabled again", async () => !(await button.isDisabled()), { timeout: 20_000 });
          await page.getByLabel("Password").fill(`wrong ${i}`);
          await button.click();
          await page.waitForTimeout(300);
          await page.locator('[data-testid="error"], [data-testid="throttled"]').first().waitFor();
          if ((await countdown.count()) > 0) first = Number(await countdown.innerText());
        }
        assert.ok(first >= 3, `counts down from ${first}`);
        assert.ok(await button.isDisabled(), "no sign-in while throttled");
        await page.waitForTimeout(1_200);
        const later = Number(await countdown.innerText());
        assert.ok(later < first, `${later} < ${first}`);
      } finally {
        await context.close();
      }
    });
  } finally {
    await browser.close();
  }
});
