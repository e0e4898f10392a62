// The whole admin flow through openapi-fetch, typed by openapi-typescript from the committed
// OpenAPI document. flow-ts.sh generates `schema.d.ts` next to a copy of this file, type-checks
// both with `tsc --noEmit --strict` (a document whose types are wrong fails there) and runs it.
//
// Environment: FREEWAY_URL, FREEWAY_ADMIN_USER, FREEWAY_ADMIN_PASSWORD, FREEWAY_MODEL.

import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];

function fail(message: string): never {
  console.error(`FLOW FAILED: ${message}`);
  process.exit(1);
}

function step(message: string): void {
  console.log(`--> ${message}`);
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) fail(`set ${name}`);
  return value;
}

const url = env("FREEWAY_URL").replace(/\/+$/, "");
const username = env("FREEWAY_ADMIN_USER");
const firstPassword = env("FREEWAY_ADMIN_PASSWORD");
const model = env("FREEWAY_MODEL");

interface Answer<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

/** Awaits an openapi-fetch call and returns its typed body; the status must be `status`. */
async function expect<D>(what: string, status: number, call: Promise<Answer<D>>): Promise<D> {
  const { data, error, response } = await call;
  if (response.status !== status) {
    fail(`${what}: expected ${status}, got ${response.status}: ${JSON.stringify(error ?? data)}`);
  }
  if (data === undefined) fail(`${what}: ${status} without a body`);
  return data;
}

/** The same, for answers without a body (204). */
async function expectEmpty(what: string, status: number, call: Promise<Answer<unknown>>) {
  const { error, response } = await call;
  if (response.status !== status) {
    fail(`${what}: expected ${status}, got ${response.status}: ${JSON.stringify(error)}`);
  }
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, seconds = 10) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const result = await check();
    if (result !== undefined) return result;
    if (Date.now() > deadline) fail(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function bearer(token: string) {
  return { Authorization: `Bearer ${token}` };
}

// JSON answers only: `text/event-stream` (streamed chat) is described too, but not asked for.
const anonymous = createClient<paths, "application/json">({ baseUrl: url });

async function logIn(password: string): Promise<Schemas["LoginResponse"]> {
  const body: Schemas["LoginRequest"] = { username, password };
  return expect("auth_login", 200, anonymous.POST("/admin/v1/auth/login", { body }));
}

step(`auth_login as ${username}`);
let login = await logIn(firstPassword);
if (login.token_type.toLowerCase() !== "bearer" || login.expires_in <= 0) {
  fail(`auth_login: ${JSON.stringify(login)}`);
}
if (login.must_change_password) {
  step("auth_change_password (the first password is a one-time one)");
  const password = `contract-${crypto.randomUUID()}`;
  const change: Schemas["PasswordChange"] = {
    current_password: firstPassword,
    new_password: password,
  };
  await expectEmpty(
    "auth_change_password",
    204,
    anonymous.POST("/admin/v1/auth/password", {
      body: change,
      headers: bearer(login.access_token),
    }),
  );
  login = await logIn(password);
}
const jwt = createClient<paths, "application/json">({
  baseUrl: url,
  headers: bearer(login.access_token),
});

const me: Schemas["Me"] = await expect("me_get", 200, jwt.GET("/admin/v1/me"));
if (me.username !== username) fail(`me_get: ${JSON.stringify(me)}`);

// The rest of the flow runs with a long-lived `fwa-` admin token, as automation would.
step("tokens_create (an fwa- admin token, shown once)");
const newToken: Schemas["NewToken"] = { name: "contract-ts", expires_in_days: 1 };
const made: Schemas["CreatedToken"] = await expect(
  "tokens_create",
  201,
  jwt.POST("/admin/v1/tokens", { body: newToken }),
);
if (!made.token.startsWith("fwa-") || !made.token.startsWith(made.prefix)) {
  fail(`tokens_create: the token does not start with its prefix ${made.prefix}`);
}
const tokens: Schemas["TokenInfo"][] = (
  await expect("tokens_list", 200, jwt.GET("/admin/v1/tokens"))
).data;
if (!tokens.some((t) => t.id === made.id)) fail("tokens_list does not list the new token");
if (JSON.stringify(tokens).includes(made.token.slice(made.prefix.length))) {
  fail("tokens_list shows the token's secret");
}
const admin = createClient<paths, "application/json">({
  baseUrl: url,
  headers: bearer(made.token),
});
const meByToken = await expect("me_get (fwa- token)", 200, admin.GET("/admin/v1/me"));
if (meByToken.username !== username) fail(`me_get with the fwa- token: ${meByToken.username}`);

step("tenants_create");
const tenant: Schemas["TenantView"] = await expect(
  "tenants_create",
  201,
  admin.POST("/admin/v1/tenants", {
    body: { name: `contract-ts-${crypto.randomUUID().slice(0, 8)}` },
  }),
);
const gotTenant = await expect(
  "tenants_get",
  200,
  admin.GET("/admin/v1/tenants/{id}", { params: { path: { id: tenant.id } } }),
);
if (gotTenant.name !== tenant.name) fail(`tenants_get: ${JSON.stringify(gotTenant)}`);
const tenants = await expect("tenants_list", 200, admin.GET("/admin/v1/tenants"));
if (!tenants.data.some((t) => t.id === tenant.id)) fail("tenants_list misses the new tenant");

step("members_create");
const member: Schemas["MemberView"] = await expect(
  "members_create",
  201,
  admin.POST("/admin/v1/tenants/{tenant}/members", {
    params: { path: { tenant: tenant.id } },
    body: { name: "bea", email: "bea@example.com" },
  }),
);
if (member.tenant_id !== tenant.id) fail(`members_create: ${JSON.stringify(member)}`);
const memberPath = { tenant: tenant.id, member: member.id };

// The quota before the key: the reload that brings the key brings the quota too.
step("member_quota_put");
const quotaBody: Schemas["QuotaBody"] = { rpm: 100, tpd: 1_000_000 };
const quota: Schemas["QuotaView"] = await expect(
  "member_quota_put",
  200,
  admin.PUT("/admin/v1/tenants/{tenant}/members/{member}/quota", {
    params: { path: memberPath },
    body: quotaBody,
  }),
);
if (quota.rpm !== 100 || quota.scope_id !== member.id) {
  fail(`member_quota_put: ${JSON.stringify(quota)}`);
}

step("member_keys_create");
const created: Schemas["CreatedKey"] = await expect(
  "member_keys_create",
  201,
  admin.POST("/admin/v1/tenants/{tenant}/members/{member}/keys", {
    params: { path: memberPath },
    body: { name: "laptop" },
  }),
);
const secret: string = created.key;
if (!secret.startsWith("fw-") || !secret.startsWith(created.prefix)) {
  fail(`member_keys_create: the key does not start with its prefix ${created.prefix}`);
}
const secretTail = secret.slice(created.prefix.length);
if (secretTail.length < 8) fail("member_keys_create: the key's secret part is too short");

step("member_keys_get / member_keys_list never show the secret");
const keyPath = { ...memberPath, id: created.id };
const keyAnswer = await admin.GET("/admin/v1/tenants/{tenant}/members/{member}/keys/{id}", {
  params: { path: keyPath },
  parseAs: "text",
});
if (keyAnswer.response.status !== 200) fail(`member_keys_get: ${keyAnswer.response.status}`);
if (String(keyAnswer.data).includes(secretTail)) fail("member_keys_get shows the key's secret");
const view: Schemas["KeyView"] = await expect(
  "member_keys_get",
  200,
  admin.GET("/admin/v1/tenants/{tenant}/members/{member}/keys/{id}", {
    params: { path: keyPath },
  }),
);
if (view.revoked || view.prefix !== created.prefix) fail(`member_keys_get: ${JSON.stringify(view)}`);
const keys = await expect(
  "member_keys_list",
  200,
  admin.GET("/admin/v1/tenants/{tenant}/members/{member}/keys", {
    params: { path: memberPath },
  }),
);
if (keys.data.length !== 1 || keys.data[0]?.id !== created.id) {
  fail(`member_keys_list: ${JSON.stringify(keys)}`);
}
if (JSON.stringify(keys).includes(secretTail)) fail("member_keys_list shows the key's secret");

step(`POST /v1/chat/completions with the new key (model ${model})`);
const chatBody: Schemas["ChatCompletionRequest"] = {
  model,
  messages: [{ role: "user", content: "Say hello" }],
};
const callV1 = (key: string) =>
  anonymous.POST("/v1/chat/completions", { body: chatBody, headers: bearer(key) });
// A new key reaches the running server through a Postgres notification: until then it is
// unknown (401).
const completion = await eventually("the new key to work on /v1", async () => {
  const answer = await callV1(secret);
  if (answer.response.status === 401) return undefined;
  return expect("chat_completions_create", 200, Promise.resolve(answer));
});
const choice = completion.choices[0];
if (choice === undefined) fail(`chat_completions_create: no choice: ${JSON.stringify(completion)}`);
console.log(`    answer: ${JSON.stringify(choice.message.content)}`);
const usage = completion.usage;
if (!usage || usage.total_tokens <= 0) fail(`chat_completions_create: no usage`);

step("usage_summary_get (usage is written in batches: poll)");
const summary: Schemas["UsageSummary"] = await eventually("the usage summary", async () => {
  const result = await expect(
    "usage_summary_get",
    200,
    admin.GET("/admin/v1/usage/summary", { params: { query: { member_id: member.id } } }),
  );
  return result.total.requests >= 1 ? result : undefined;
});
if (summary.total.requests !== 1 || summary.total.total_tokens !== usage.total_tokens) {
  fail(`usage_summary_get: ${JSON.stringify(summary.total)}, expected 1 request and ` +
    `${usage.total_tokens} tokens`);
}

step("requests_list shows the call");
const entries = await eventually("the request log to show the call", async () => {
  const page = await expect(
    "requests_list",
    200,
    admin.GET("/admin/v1/requests", { params: { query: { member_id: member.id } } }),
  );
  return page.data.length > 0 ? page.data : undefined;
});
const entry = entries[0];
if (entries.length !== 1 || entry === undefined) fail(`requests_list: ${JSON.stringify(entries)}`);
if (entry.status !== 200 || entry.api_key_id !== created.id || entry.model !== model) {
  fail(`requests_list: unexpected entry ${JSON.stringify(entry)}`);
}
const detail: Schemas["RequestEntry"] = await expect(
  "requests_get",
  200,
  admin.GET("/admin/v1/requests/{id}", { params: { path: { id: entry.id } } }),
);
if (detail.id !== entry.id || detail.attempt_trail.length === 0) {
  fail(`requests_get: ${JSON.stringify(detail)}`);
}

step("member_keys_revoke");
await expectEmpty(
  "member_keys_revoke",
  204,
  admin.DELETE("/admin/v1/tenants/{tenant}/members/{member}/keys/{id}", {
    params: { path: keyPath },
  }),
);

step("/v1/chat/completions with the revoked key is 401");
// Revocation reaches every instance within a second.
const refusal: Schemas["OpenAiErrorEnvelope"] = await eventually(
  "the revoked key to be refused",
  async () => {
    const answer = await callV1(secret);
    if (answer.response.status === 200) return undefined;
    if (answer.response.status !== 401 || answer.error === undefined) {
      fail(`/v1 with a revoked key: ${answer.response.status}, expected 401`);
    }
    return answer.error;
  },
  3,
);
console.log(`    refused: ${refusal.error.code}: ${refusal.error.message}`);

step("tokens_revoke: the fwa- token stops working");
await expectEmpty(
  "tokens_revoke",
  204,
  jwt.DELETE("/admin/v1/tokens/{id}", { params: { path: { id: made.id } } }),
);
const afterRevoke = await admin.GET("/admin/v1/me");
if (afterRevoke.response.status !== 401) {
  fail(`me_get with a revoked fwa- token: ${afterRevoke.response.status}, expected 401`);
}
const revokedError: Schemas["AdminErrorEnvelope"] | undefined = afterRevoke.error;
console.log(`    refused: ${revokedError?.error.code}`);

console.log("FLOW PASSED (typescript client)");
