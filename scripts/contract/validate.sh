#!/usr/bin/env bash
# Validates an OpenAPI document with openapi-spec-validator: every error (not only the first),
# one line each with where it is, then the count. Exit 0 only when there is none.
#
#   scripts/contract/validate.sh openapi/openapi.json
#   scripts/contract/validate.sh http://127.0.0.1:8080/admin/v1/openapi.json

set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 FILE|URL" >&2; exit 2; }
source "$(dirname "$0")/tools.sh"

exec "$FREEWAY_TOOLS_VENV/bin/python" - "$1" <<'EOF'
import json
import sys
import urllib.request

from jsonschema_path import SchemaPath
from openapi_spec_validator.shortcuts import get_validator_cls

location = sys.argv[1]
if location.startswith(("http://", "https://")):
    with urllib.request.urlopen(location, timeout=30) as response:
        document = json.load(response)
else:
    with open(location, encoding="utf-8") as file:
        document = json.load(file)

validator = get_validator_cls(document)(SchemaPath.from_dict(document))
count = 0
for error in validator.iter_errors():
    count += 1
    where = "/".join(str(p) for p in getattr(error, "absolute_path", ()) or ())
    message = getattr(error, "message", str(error)).splitlines()[0]
    print(f"{count}. {type(error).__name__}: {message}" + (f"  (at /{where})" if where else ""))
print(f"{location}: {count} error(s) ({validator.__class__.__name__})")
sys.exit(1 if count else 0)
EOF
