// The whole story, in headless Chromium against the real server, Postgres and the mock
// upstream (started by api/tests/api/ui_story.rs, which passes what it set up):
//   an instance admin signs in, changes the one-time password, adds a provider, a credential
//   and a model, probes the credential, and imports a newer catalog after its diff; a tenant admin creates a member, whose key is shown once and copied; that key
//   makes /v1 calls (one in the playground); the usage appears on the overview chart and in
//   the requests log with its attempt ladder; an upstream 429 cools the route down, the
//   inspector shows it, and clearing it leaves an audit entry; a profile made in the routing
//   page orders its chain by the strategy picked in its form.

import { test } from "node:test";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { BASE, launch, open, signIn, firstSignIn, signOut, shot, eventually } from "./browser.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this from api/tests/api/ui_story.rs`);
  return value;
};
const ADMIN = env("FREEWAY_E2E_ADMIN");
const ADMIN_OTP = env("FREEWAY_E2E_ADMIN_PASSWORD");
const TADMIN = env("FREEWAY_E2E_TENANT_ADMIN");
const TADMIN_OTP = env("FREEWAY_E2E_TENANT_ADMIN_PASSWORD");
const TENANT = env("FREEWAY_E2E_TENANT_ID");
const MOCK = env("FREEWAY_E2E_MOCK_URL"); // http://127.0.0.1:PORT/v1
const ADMIN_NEW = "a brand new admin passphrase";
const TADMIN_NEW = "a brand new tenant passphrase";

async function chat(key, content) {
  const response = await fetch(`${BASE}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-model", messages: [{ role: "user", content }] }),
  });
  return { status: response.status, body: await response.json() };
}

test("the whole story", { timeout: 240_000 }, async (t) => {
  const browser = await launch();
  const { page, problems, context } = await open(browser);
  let apiKey;
  try {
    await t.test("an instance admin signs in and changes the one-time password", async () => {
      await page.goto(`${BASE}/`);
      await page.waitForURL(/\/login/);
      await firstSignIn(page, ADMIN, ADMIN_OTP, ADMIN_NEW);
      assert.equal(await page.getByTestId("whoami").getAttribute("data-role"), "instance_admin");
      await shot(page, "story-overview-empty");
    });

    await t.test("adds a provider, a credential and a model", async () => {
      await page.getByTestId("nav-pool").click();
      await page.getByTestId("provider-add-name").fill("mockup");
      await page.getByTestId("provider-add-url").fill(MOCK);
      await page.getByTestId("provider-add").click();
      const row = page.locator('[data-testid="provider-row"][data-name="mockup"]');
      await row.waitFor();
      await row.getByRole("link").first().click();
      await page.waitForURL(/\/pool\/mockup/);
      await page.getByTestId("credential-label").fill("main");
      await page.getByTestId("credential-secret").fill("sk-mock-secret");
      await page.getByTestId("credential-add").click();
      await page.getByTestId("credential-row").first().waitFor();
      // The secret is write-only: never shown back.
      assert.ok(!(await page.content()).includes("sk-mock-secret"));
      await page.getByTestId("model-add-id").fill("mock-model");
      await page.getByTestId("model-add").click();
      await page.locator('[data-testid="model-row"]', { hasText: "mock-model" }).waitFor();
      await page.getByTestId("credential-test").first().click();
      const result = page.getByTestId("credential-test-result").first();
      await result.waitFor();
      assert.match(await result.innerText(), /ok|200/i);
      // No probe has run yet; a probe now is stored and shown on the reloaded row.
      const probe = page.getByTestId("credential-probe").first();
      assert.match(await probe.innerText(), /not yet/);
      await page.getByTestId("credential-probe-now").first().click();
      await page.locator('[data-testid="credential-probe"] [data-ok="true"]').first().waitFor();
      assert.match(await probe.innerText(), /ok\s+\d+ ms/);
      await shot(page, "story-provider");
      await signOut(page);
    });

    await t.test("imports a newer catalog after previewing its diff", async () => {
      await signIn(page, ADMIN, ADMIN_NEW);
      await page.getByTestId("nav-pool").click();
      // The built-in catalog, one version newer, with one provider more; unsigned.
      const shipped = readFileSync(new URL("../../api/catalog/catalog.toml", import.meta.url), "utf8");
      const text =
        shipped.replace(/^version = (\d+)$/m, (_, v) => `version = ${Number(v) + 1}`) +
        '\n[[provider]]\nid = "story-extra"\nname = "Story Extra"\n' +
        `base_url = "${MOCK}"\npriority = 200\nkey_url = "https://story.test/keys"\n`;
      await page.getByTestId("catalog-file").setInputFiles({
        name: "catalog.toml",
        mimeType: "text/plain",
        buffer: Buffer.from(text),
      });
      await page.getByTestId("catalog-file-loaded").waitFor();
      // Unsigned and not forced: refused, naming why; nothing to apply.
      await page.getByTestId("catalog-preview").click();
      const refused = page.getByTestId("catalog-import").getByTestId("error");
      await refused.waitFor();
      assert.match(await refused.innerText(), /sign/i);
      assert.ok(await page.getByTestId("catalog-apply").isDisabled());
      // Forced: the diff shows the new provider; applying adds it to the pool.
      await page.getByTestId("catalog-force").check();
      await page.getByTestId("catalog-preview").click();
      const added = page.locator('[data-testid="catalog-change"][data-id="story-extra"]');
      await added.waitFor();
      assert.equal(await added.getAttribute("data-change"), "added");
      assert.equal(await page.getByTestId("catalog-diff").getAttribute("data-applied"), "false");
      assert.equal(await page.locator('[data-testid="provider-row"][data-name="story-extra"]').count(), 0);
      await page.getByTestId("catalog-apply").click();
      await page.locator('[data-testid="catalog-diff"][data-applied="true"]').waitFor();
      await page.locator('[data-testid="provider-row"][data-name="story-extra"]').waitFor();
      assert.ok(await page.getByTestId("catalog-apply").isDisabled());
      await shot(page, "story-catalog");
      await signOut(page);
    });

    await t.test("a tenant admin creates a member whose key is shown once and copied", async () => {
      await firstSignIn(page, TADMIN, TADMIN_OTP, TADMIN_NEW);
      assert.equal(await page.getByTestId("whoami").getAttribute("data-role"), "tenant_admin");
      await page.getByTestId("nav-team").click();
      await page.waitForURL(new RegExp(`/tenants/${TENANT}`));
      await page.getByTestId("member-create-name").fill("bob");
      await page.getByTestId("member-create-email").fill("bob@example.com");
      await page.getByTestId("member-create").click();
      const bob = page.locator('[data-testid="member-row"]', { hasText: "bob" });
      await bob.waitFor();
      await bob.getByRole("link").first().click();
      await page.waitForURL(/\/members\//);
      await page.getByTestId("key-create-name").fill("laptop");
      await page.getByTestId("key-create").click();
      await page.getByTestId("show-once").waitFor();
      apiKey = await page.getByTestId("secret").inputValue();
      assert.match(apiKey, /^fw-/);
      await page.getByTestId("copy").click();
      const status = page.getByTestId("copy-status");
      await status.waitFor();
      assert.match(await status.innerText(), /Copied/);
      const clipboard = await page.evaluate(() => navigator.clipboard.readText());
      assert.equal(clipboard, apiKey, "the clipboard holds the key that was shown");
      await shot(page, "story-key-shown-once");
      await page.getByTestId("done").click();
      await page.getByTestId("key-row").first().waitFor();
      assert.ok(!(await page.content()).includes(apiKey), "the key is not shown again");
    });

    await t.test("the key makes /v1 calls, one of them streamed in the playground", async () => {
      for (let i = 0; i < 3; i++) {
        const { status, body } = await chat(apiKey, `hello ${i}`);
        assert.equal(status, 200, JSON.stringify(body));
      }
      await page.getByTestId("nav-playground").click();
      await page.getByTestId("pg-key").fill(apiKey);
      await page.getByTestId("pg-model").fill("mock-model");
      await page.getByTestId("pg-message").fill("Say hi");
      await page.getByTestId("pg-send").click();
      await eventually("a streamed answer", async () => (await page.getByTestId("pg-answer").last().innerText()).length > 0);
      await page.locator('[data-testid="pg-header"]').first().waitFor();
      const headers = await page.locator('[data-testid="pg-header"]').evaluateAll((rows) => rows.map((r) => r.dataset.name));
      assert.ok(headers.some((h) => h.startsWith("x-freeway-")), `gateway headers shown: ${headers}`);
      await shot(page, "story-playground");
      await signOut(page);
    });

    await t.test("the usage is on the overview chart and in the requests log with its ladder", async () => {
      await signIn(page, ADMIN, ADMIN_NEW);
      await page.getByTestId("whoami").waitFor();
      await eventually("four requests on the chart", async () => {
        await page.reload();
        const chart = page.getByTestId("chart-requests");
        await chart.waitFor({ timeout: 5_000 });
        return Number(await chart.getAttribute("data-total")) >= 4;
      }, { timeout: 30_000 });
      await shot(page, "story-overview");
      // A daily quota for the tenant: the overview then shows how near the tenant is to it.
      await page.goto(`${BASE}/tenants/${TENANT}`);
      const quota = page.locator('[data-testid="quota-tenant"]');
      await quota.getByTestId("quota-rpd").fill("10");
      await quota.getByTestId("quota-save").click();
      await quota.getByTestId("quota-saved").waitFor();
      await page.getByTestId("nav-overview").click();
      const near = page.getByTestId("near-quota-row").first();
      await near.waitFor();
      assert.ok(Number(await near.getAttribute("data-share")) >= 0.4, await near.innerText());
      await page.getByTestId("nav-requests").click();
      const rows = page.getByTestId("request-row");
      await eventually("four rows in the log", async () => (await rows.count()) >= 4);
      // A chat request (the playground's GET /v1/models is in the log too, without attempts).
      await rows.filter({ hasText: "mock-model" }).first().click();
      await page.getByTestId("drawer").waitFor();
      assert.ok(page.url().includes("id="), "the open request is in the URL");
      const hop = page.getByTestId("attempt").first();
      await hop.waitFor();
      assert.equal(await hop.getAttribute("data-outcome"), "ok");
      await shot(page, "story-request-drawer");
      await page.keyboard.press("Escape");
    });

    await t.test("an upstream 429 cools the route; the inspector shows it; clearing it is audited", async () => {
      const push = await fetch(`${MOCK.replace(/\/v1$/, "")}/__mock/push?status=429&retry_after=600`, { method: "POST" });
      assert.equal(push.status, 204);
      const { status } = await chat(apiKey, "this one is rate limited");
      assert.ok([429, 503].includes(status), `the client sees the failure: ${status}`);
      await page.goto(`${BASE}/routing?tab=state`);
      const cooling = page.locator('[data-testid="route-row"][data-provider="mockup"] [data-testid="cooldown"]');
      await cooling.first().waitFor();
      assert.match(await cooling.first().innerText(), /\d/);
      await shot(page, "story-routing-state");
      await page.locator('[data-testid="route-row"][data-provider="mockup"] [data-testid="cooldown-clear"]').first().click();
      await eventually("the cooldown is gone", async () => (await cooling.count()) === 0);
      await page.getByTestId("nav-audit").click();
      await page.locator('[data-testid="audit-row"][data-action*="cooldown"]').first().waitFor();
      await shot(page, "story-audit");
    });

    await t.test("a profile's strategy is picked in its form and orders its chain", async () => {
      await page.goto(`${BASE}/routing?tab=profiles`);
      await page.getByTestId("profile-new-name").fill("spread");
      await page.getByTestId("profile-new").click();
      const profile = page.locator('[data-testid="profile"][data-name="spread"]');
      await profile.waitFor();
      await profile.getByTestId("chain-add-model").fill("mockup/mock-model");
      await profile.getByTestId("chain-add").click();
      await profile.getByTestId("profile-strategy").selectOption("balanced");
      await profile.getByTestId("profile-save").click();
      // Saved, the draft gives way to the stored profile: its form reads the server's answer.
      await eventually("the profile is saved with its strategy", async () =>
        (await profile.locator(".badge.warn").count()) === 0 &&
        (await profile.getByTestId("profile-strategy").inputValue()) === "balanced" &&
        (await profile.getByTestId("profile-save").isDisabled()));
      await shot(page, "story-profile-strategy");
      await eventually("/v1 answers for the profile, ordered by its strategy", async () => {
        const response = await fetch(`${BASE}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "spread", messages: [{ role: "user", content: "spread" }] }),
        });
        return response.status === 200 && response.headers.get("x-freeway-strategy") === "balanced";
      });
      // The simulation names the strategy and the figure each route was ranked by.
      await page.goto(`${BASE}/routing?tab=simulate`);
      await page.getByTestId("simulate-model").fill("spread");
      await page.getByTestId("simulate-run").click();
      await page.getByTestId("simulate-strategy").waitFor();
      assert.equal(await page.getByTestId("simulate-strategy").innerText(), "balanced");
      assert.match(await page.getByTestId("candidate-reason").first().innerText(), /^headroom /);
      await shot(page, "story-simulate-strategy");
    });

    assert.deepEqual(problems, [], "no page errors");
  } finally {
    await context.close();
    await browser.close();
  }
});
