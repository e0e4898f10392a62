// Swagger UI, used as a person would: open /admin/docs/ in headless Chromium, authorize with
// an admin token, expand GET /admin/v1/tenants, "Try it out", "Execute", and check that the
// request the page really sent is GET /admin/v1/tenants and that it answered 200.
//
//   node scripts/contract/swagger.mjs http://127.0.0.1:8080 "$ADMIN_TOKEN"
//
// playwright-core comes from the cache of tools.sh (FREEWAY_TOOLS_NODE); the browser is the
// machine's Chromium (FREEWAY_CHROMIUM, default /usr/bin/chromium): Playwright's own browser
// downloads are not used. On failure a screenshot is saved and its path printed.

import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error("usage: node swagger.mjs URL ADMIN_TOKEN");
  process.exit(2);
}
const url = base.replace(/\/+$/, "");
const METHOD = "GET";
const PATH = "/admin/v1/tenants";

const cache = process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache");
const toolsNode = process.env.FREEWAY_TOOLS_NODE ?? join(cache, "freeway", "tools", "node");
const { chromium } = createRequire(join(toolsNode, "package.json"))("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.FREEWAY_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
  ],
});
const page = await browser.newPage();
page.setDefaultTimeout(15_000);

// Every admin API call the page makes, apart from fetching the document itself.
const sent = [];
page.on("request", (request) => {
  const target = new URL(request.url());
  if (target.pathname.startsWith("/admin/v1/") && target.pathname !== "/admin/v1/openapi.json") {
    sent.push(request);
  }
});
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

function step(message) {
  console.log(`--> ${message}`);
}

async function fail(message) {
  const shot = join(tmpdir(), `freeway-swagger-${Date.now()}.png`);
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`SWAGGER UI FAILED: ${message}`);
  if (problems.length) console.error(problems.join("\n"));
  console.error(`screenshot: ${shot}`);
  await browser.close();
  process.exit(1);
}

try {
  step(`open ${url}/admin/docs/`);
  await page.goto(`${url}/admin/docs/`);
  const operation = page
    .locator(`.opblock.opblock-${METHOD.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${PATH}"]`) });
  // The first render lays out every operation of a large document: on a loaded 2-core
  // machine (the suite runs four tests at once) it took longer than the default 15 s.
  await operation.first().waitFor({ timeout: 90_000 });
  const count = await operation.count();
  if (count !== 1) await fail(`${count} operation blocks for ${METHOD} ${PATH}, expected 1`);

  step("authorize");
  await page.locator("button.authorize").first().click();
  const containers = page.locator(".modal-ux .auth-container");
  await containers.first().waitFor();
  // The first bearer scheme of the admin API (admin_jwt / admin_token / admin); the /v1
  // api_key scheme is another one.
  let authorized = false;
  for (let i = 0; i < (await containers.count()); i++) {
    const container = containers.nth(i);
    const title = (await container.locator("h4").first().innerText()).trim();
    if (!/^admin/i.test(title)) continue;
    await container.locator("input").first().fill(token);
    await container.locator("button.authorize, button[type=submit]").first().click();
    step(`authorized scheme "${title}"`);
    authorized = true;
    break;
  }
  if (!authorized) await fail("no admin security scheme in the Authorize dialog");
  await page.locator(".modal-ux button.btn-done, .modal-ux button.close-modal").first().click();

  step(`expand ${METHOD} ${PATH}`);
  await operation.locator(".opblock-summary").first().click();
  step("Try it out");
  await operation.locator("button.try-out__btn").click();
  step("Execute");
  await operation.locator("button.execute").click();

  // The request Execute sent, and what came back.
  const deadline = Date.now() + 15_000;
  while (sent.length === 0 && Date.now() < deadline) await page.waitForTimeout(100);
  if (sent.length === 0) await fail("Execute sent no request to /admin/v1");
  const request = sent[0];
  const target = new URL(request.url());
  console.log(`    sent: ${request.method()} ${target.pathname}${target.search}`);
  const response = await request.response();
  const status = response ? response.status() : 0;
  console.log(`    answered: ${status}`);
  if (request.method() !== METHOD || target.pathname !== PATH) {
    await fail(`Execute on ${METHOD} ${PATH} sent ${request.method()} ${target.pathname}`);
  }
  if (!(await request.headerValue("authorization"))?.startsWith("Bearer ")) {
    await fail("the request carried no bearer token: Authorize did not apply to it");
  }
  if (status !== 200) await fail(`${METHOD} ${PATH} answered ${status}, expected 200`);

  // What the page shows agrees.
  const shown = operation
    .locator(".live-responses-table tr.response .response-col_status")
    .first();
  await shown.waitFor();
  const shownStatus = (await shown.innerText()).trim();
  if (!shownStatus.startsWith("200")) await fail(`the page shows status ${shownStatus}`);
  const requestUrl = (await operation.locator(".request-url").first().innerText()).trim();
  if (!requestUrl.includes(PATH)) await fail(`the page shows request URL ${requestUrl}`);
  if (sent.length !== 1) {
    await fail(`Execute sent ${sent.length} requests: ${sent.map((r) => r.url()).join(", ")}`);
  }
} catch (error) {
  await fail(String(error?.stack ?? error));
}
await browser.close();
console.log("SWAGGER UI PASSED");
