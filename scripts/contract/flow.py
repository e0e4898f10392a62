#!/usr/bin/env python3
"""The whole admin flow through a client generated from the committed OpenAPI document.

openapi-python-client generates a typed client from `openapi/openapi.json` into a temporary
folder (never committed); every admin call below goes through it and reads its parsed models,
so a document that does not describe what the server does fails here. The `/v1` call uses the
official `openai` SDK.

    FREEWAY_URL=http://127.0.0.1:8080 FREEWAY_ADMIN_USER=admin FREEWAY_ADMIN_PASSWORD=... \\
    FREEWAY_MODEL=mock-model  scripts/contract/flow.py

Run it with the venv of scripts/contract/tools.sh. Optional: FREEWAY_OPENAPI (another
document), FREEWAY_CONTRACT_KEEP=1 (keep the generated client and print where it is).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = Path(os.environ.get("FREEWAY_OPENAPI", ROOT / "openapi" / "openapi.json"))
PACKAGE = "freeway_admin_client"


def fail(message: str) -> None:
    print(f"FLOW FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def step(message: str) -> None:
    print(f"--> {message}", flush=True)


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        fail(f"set {name}")
    return value


def generate_client(folder: Path) -> Path:
    """Generates the client package into `folder` and returns the package's folder."""
    config = folder / "config.yaml"
    config.write_text(f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n")
    package = folder / PACKAGE
    bin_dir = Path(sys.executable).parent
    generator = bin_dir / "openapi-python-client"
    command = [str(generator), "generate", "--path", str(DOCUMENT), "--output-path", str(package),
               "--config", str(config), "--meta", "none"]
    step(f"generating the client: {' '.join(command[1:])}")
    result = subprocess.run(
        command, check=False, capture_output=True, text=True,
        # Its post-generation hook runs ruff, which lives in the same venv.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = (result.stdout + result.stderr).strip()
    if output:
        print(output, flush=True)
    if result.returncode != 0 or not (package / "__init__.py").exists():
        fail(f"openapi-python-client refused {DOCUMENT} (exit {result.returncode}); output above")
    if "Warning(s) encountered" in output:
        print("(generator warnings above: parts of the document were left out of the client)",
              flush=True)
    return package


def main() -> None:
    url = env("FREEWAY_URL").rstrip("/")
    username = env("FREEWAY_ADMIN_USER")
    password = env("FREEWAY_ADMIN_PASSWORD")
    model = env("FREEWAY_MODEL")

    folder = Path(tempfile.mkdtemp(prefix="freeway-pyclient-"))
    try:
        package = generate_client(folder)
        sys.path.insert(0, str(folder))
        run_flow(package, url, username, password, model)
    finally:
        if os.environ.get("FREEWAY_CONTRACT_KEEP"):
            print(f"generated client kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print("FLOW PASSED (python client)", flush=True)


def run_flow(package: Path, url: str, username: str, password: str, model: str) -> None:
    client_module = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")

    def operation(operation_id: str) -> Any:
        """The generated module of `operation_id`, wherever the generator put its tag."""
        found = sorted((package / "api").glob(f"*/{operation_id}.py"))
        if len(found) != 1:
            fail(f"operationId {operation_id!r}: {len(found)} generated modules "
                 f"({[str(p.relative_to(package)) for p in found]}); is it in the document?")
        return importlib.import_module(f"{PACKAGE}.api.{found[0].parent.name}.{operation_id}")

    def call(operation_id: str, status: int, client: Any, expect: type | None = None,
             **arguments: Any) -> Any:
        """Calls `operation_id` and returns its parsed answer, which must be an `expect`."""
        response = operation(operation_id).sync_detailed(client=client, **arguments)
        if response.status_code != status:
            fail(f"{operation_id}: expected {status}, got {int(response.status_code)}: "
                 f"{response.content[:1000]!r}")
        parsed = response.parsed
        if expect is not None and not isinstance(parsed, expect):
            fail(f"{operation_id}: the answer parsed as {type(parsed).__name__}, not "
                 f"{expect.__name__}: {response.content[:1000]!r}")
        return parsed

    def eventually(what: str, check: Callable[[], Any], seconds: float = 10.0) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                fail(f"timed out after {seconds:.0f} s waiting for {what}")
            time.sleep(0.1)

    anonymous = client_module.Client(base_url=url, raise_on_unexpected_status=False)

    step(f"auth_login as {username}")
    login = call("auth_login", 200, anonymous, models.LoginResponse,
                 body=models.LoginRequest(username=username, password=password))
    if login.token_type.lower() != "bearer" or login.expires_in <= 0:
        fail(f"auth_login: unexpected token_type/expires_in: {login.to_dict()}")
    admin = client_module.AuthenticatedClient(base_url=url, token=login.access_token)

    if login.must_change_password:
        step("auth_change_password (the first password is a one-time one)")
        password = f"contract-{uuid.uuid4()}"
        call("auth_change_password", 204, admin,
             body=models.PasswordChange(current_password=env("FREEWAY_ADMIN_PASSWORD"),
                                        new_password=password))
        login = call("auth_login", 200, anonymous, models.LoginResponse,
                     body=models.LoginRequest(username=username, password=password))
        admin = client_module.AuthenticatedClient(base_url=url, token=login.access_token)

    me = call("me_get", 200, admin, models.Me)
    if me.username != username:
        fail(f"me_get: username {me.username!r}, expected {username!r}")

    # The rest of the flow runs with a long-lived `fwa-` admin token, as automation would.
    step("tokens_create (an fwa- admin token, shown once)")
    made = call("tokens_create", 201, admin, models.CreatedToken,
                body=models.NewToken(name="contract", expires_in_days=1))
    if not made.token.startswith("fwa-") or not made.token.startswith(made.prefix):
        fail(f"tokens_create: the token does not start with its prefix {made.prefix!r}")
    tokens = call("tokens_list", 200, admin, models.PageTokenInfo).data
    if not all(isinstance(t, models.TokenInfo) for t in tokens):
        fail("tokens_list: the listed items are not TokenInfo")
    if made.id not in [t.id for t in tokens]:
        fail("tokens_list does not list the new token")
    raw_tokens = operation("tokens_list").sync_detailed(client=admin).content
    if made.token[len(made.prefix):].encode() in raw_tokens:
        fail("tokens_list shows the token's secret")
    jwt = admin
    admin = client_module.AuthenticatedClient(base_url=url, token=made.token)
    if call("me_get", 200, admin, models.Me).username != username:
        fail("me_get with the fwa- token: another user")

    suffix = uuid.uuid4().hex[:8]
    step("tenants_create")
    tenant = call("tenants_create", 201, admin, models.TenantView,
                  body=models.NewTenant(name=f"contract-{suffix}"))
    got = call("tenants_get", 200, admin, models.TenantView, id=tenant.id)
    if got.name != tenant.name:
        fail(f"tenants_get: {got.to_dict()} is not the created {tenant.to_dict()}")
    tenants = call("tenants_list", 200, admin, models.PageTenantView)
    if not all(isinstance(t, models.TenantView) for t in tenants.data):
        fail("tenants_list: the listed items are not TenantView")
    if tenant.id not in [t.id for t in tenants.data]:
        fail(f"tenants_list does not list the new tenant {tenant.id}")

    step("members_create")
    member = call("members_create", 201, admin, models.MemberView, tenant=tenant.id,
                  body=models.NewMember(name="bea", email="bea@example.com"))
    if member.tenant_id != tenant.id:
        fail(f"members_create: tenant_id {member.tenant_id}, expected {tenant.id}")

    # The quota before the key: the reload that brings the key brings the quota too.
    step("member_quota_put")
    quota = call("member_quota_put", 200, admin, models.QuotaView, tenant=tenant.id,
                 member=member.id, body=models.QuotaBody(rpm=100, tpd=1_000_000))
    if quota.rpm != 100 or quota.scope_id != member.id:
        fail(f"member_quota_put: {quota.to_dict()}")
    quota = call("member_quota_get", 200, admin, models.QuotaView, tenant=tenant.id,
                 member=member.id)
    if quota.rpm != 100 or quota.tpd != 1_000_000:
        fail(f"member_quota_get: {quota.to_dict()}")

    step("member_keys_create")
    created = call("member_keys_create", 201, admin, models.CreatedKey, tenant=tenant.id,
                   member=member.id, body=models.NewKey(name="laptop"))
    secret = created.key
    if not secret.startswith(created.prefix) or not secret.startswith("fw-"):
        fail(f"member_keys_create: key {secret[:12]}... does not start with prefix "
             f"{created.prefix!r}")
    tail = secret[len(created.prefix):]
    if len(tail) < 8:
        fail(f"member_keys_create: the secret part of the key is too short: {len(tail)}")

    step("member_keys_get / member_keys_list never show the secret")
    key_path = {"tenant": tenant.id, "member": member.id, "id": created.id}
    detailed = operation("member_keys_get").sync_detailed(client=admin, **key_path)
    view = call("member_keys_get", 200, admin, models.KeyView, **key_path)
    if view.revoked or view.prefix != created.prefix or view.id != created.id:
        fail(f"member_keys_get: {view.to_dict()}")
    if tail.encode() in detailed.content:
        fail("member_keys_get shows the key's secret")
    listed = operation("member_keys_list").sync_detailed(client=admin, tenant=tenant.id,
                                                         member=member.id)
    page = call("member_keys_list", 200, admin, models.PageKeyView, tenant=tenant.id,
                member=member.id)
    if [k.id for k in page.data] != [created.id]:
        fail(f"member_keys_list: {page.to_dict()}")
    if tail.encode() in listed.content:
        fail("member_keys_list shows the key's secret")

    step(f"POST /v1/chat/completions with the new key (openai SDK, model {model})")
    import openai

    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0, timeout=30)
    messages: list[Any] = [{"role": "user", "content": "Say hello"}]

    def first_call() -> Any:
        # A new key reaches the running server through a Postgres notification: until then
        # it is unknown (401).
        try:
            return sdk.chat.completions.with_raw_response.create(model=model, messages=messages)
        except openai.AuthenticationError:
            return None
        except openai.APIStatusError as error:
            fail(f"/v1/chat/completions: {error.status_code}: {error.response.text[:1000]}")

    raw_completion = eventually("the new key to work on /v1", first_call)
    completion = raw_completion.parse()
    if not completion.choices or completion.choices[0].message is None:
        fail(f"/v1/chat/completions: no choice in {completion}")
    request_id = raw_completion.headers.get("x-request-id")
    print(f"    answer: {completion.choices[0].message.content!r}, route "
          f"{raw_completion.headers.get('x-freeway-route')}, request id {request_id}")
    if completion.usage is None or completion.usage.total_tokens <= 0:
        fail(f"/v1/chat/completions: no usage in {completion}")

    step("usage_summary_get (usage is written in batches: poll)")

    def summary() -> Any:
        result = call("usage_summary_get", 200, admin, models.UsageSummary,
                      member_id=member.id)
        return result if result.total.requests >= 1 else None

    totals = eventually("the usage summary to count the call", summary).total
    if totals.requests != 1 or totals.total_tokens != completion.usage.total_tokens:
        fail(f"usage_summary_get: {totals.to_dict()}, expected 1 request and "
             f"{completion.usage.total_tokens} tokens")
    grouped = call("usage_summary_get", 200, admin, models.UsageSummary, tenant_id=tenant.id,
                   group_by=models.GroupBy("member"))
    if [g.key for g in grouped.groups] != [str(member.id)]:
        fail(f"usage_summary_get group_by=member: {grouped.to_dict()}")

    step("requests_list shows the call")

    def logged() -> Any:
        result = call("requests_list", 200, admin, models.PageRequestEntry, member_id=member.id)
        return result if result.data else None

    entries = eventually("the request log to show the call", logged).data
    if len(entries) != 1:
        fail(f"requests_list: {len(entries)} entries, expected 1")
    entry = entries[0]
    if (entry.status != 200 or entry.api_key_id != created.id or entry.model != model
            or entry.endpoint != "chat.completions"):
        fail(f"requests_list: unexpected entry {entry.to_dict()}")
    detail = call("requests_get", 200, admin, models.RequestEntry, id=entry.id)
    if detail.id != entry.id or not detail.attempt_trail:
        fail(f"requests_get: {detail.to_dict()}")

    step("member_keys_revoke")
    call("member_keys_revoke", 204, admin, **key_path)
    view = call("member_keys_get", 200, admin, models.KeyView, **key_path)
    if not view.revoked:
        fail(f"member_keys_get after revoke: {view.to_dict()}")

    step("/v1/chat/completions with the revoked key is 401")

    def refused() -> bool:
        try:
            sdk.chat.completions.create(model=model, messages=messages)
            return False
        except openai.AuthenticationError:
            return True
        except openai.APIStatusError as error:
            fail(f"/v1 with a revoked key: {error.status_code}, expected 401: "
                 f"{error.response.text[:1000]}")

    # Revocation reaches every instance within a second.
    eventually("the revoked key to be refused", refused, seconds=3)

    step("tokens_revoke: the fwa- token stops working")
    call("tokens_revoke", 204, jwt, id=made.id)
    call("me_get", 401, admin, models.AdminErrorEnvelope)


if __name__ == "__main__":
    main()
