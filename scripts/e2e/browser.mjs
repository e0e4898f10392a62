// Shared by the browser tests: playwright-core from the cache of scripts/contract/tools.sh,
// driving the machine's Chromium (FREEWAY_CHROMIUM, default /usr/bin/chromium); Playwright's
// own browser downloads are never used.

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cache = process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache");
const toolsNode = process.env.FREEWAY_TOOLS_NODE ?? join(cache, "freeway", "tools", "node");
const { chromium } = createRequire(join(toolsNode, "package.json"))("playwright-core");

export const BASE = (process.env.FREEWAY_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
export const ARTIFACTS = process.env.FREEWAY_E2E_ARTIFACTS ?? join(tmpdir(), "freeway-e2e");
mkdirSync(ARTIFACTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.FREEWAY_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
    ],
  });
}

/// A fresh context (its own localStorage) at `width`, with the clipboard granted so a test
/// can read back what "Copy" wrote.
export async function open(browser, { width = 1280, height = 900, zone = "UTC" } = {}) {
  const context = await browser.newContext({
    viewport: { width, height },
    timezoneId: zone,
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // An API answer of 4xx is a page's business (a quota not set is a 404); the browser logs it
  // as a failed resource, which is no problem. A panic, a console error or a 5xx is.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => { if (r.status() >= 500) problems.push(`${r.status()} from ${r.url()}`); });
  // Every admin API call, for the tests that count them.
  const calls = [];
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith("/admin/v1/") || url.pathname.startsWith("/v1/")) {
      calls.push({ method: r.method(), path: url.pathname, query: url.searchParams, at: Date.now() });
    }
  });
  return { context, page, problems, calls };
}

export async function signIn(page, username, password) {
  await page.goto(`${BASE}/login`);
  await fillSignIn(page, username, password);
}

/// Signs in on the sign-in page already shown (keeping its `next`).
export async function fillSignIn(page, username, password) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/// Signs in with a one-time password and chooses `fresh` on the forced page.
export async function firstSignIn(page, username, oneTime, fresh) {
  await signIn(page, username, oneTime);
  await page.getByTestId("forced-change").waitFor();
  await page.getByLabel("Current password").fill(oneTime);
  await page.getByLabel(/^New password \(/).fill(fresh);
  await page.getByLabel("New password again").fill(fresh);
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByTestId("whoami").waitFor();
}

export async function signOut(page) {
  await page.getByTestId("sign-out").click();
  await page.getByTestId("login").waitFor();
}

/// Saves a full-page screenshot for review. Chromium waits for a new frame to take one, and
/// on a loaded two-core machine (a CI run beside a build) one full page once took over the
/// default 15 s right after a viewport change: it gets 45 s, as a picture is not what is
/// tested.
export async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true, timeout: 45_000 });
  return path;
}

/// Polls `check` until it returns a truthy value (or throws its last error).
export async function eventually(what, check, { timeout = 15_000, every = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = new Error(`${what}: not yet`);
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: gave up after ${timeout} ms: ${last?.message}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
