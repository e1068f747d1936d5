#!/usr/bin/env bash
# jzcurl.sh METHOD PATH [BODY]: a signed request to a jiaozi node with curl, for trying the
# API by hand. Credentials (institution, key_id, secret, url) come from $JZ_CREDENTIALS,
# default ./jiaozi-data/central.json. The signature is computed exactly as API.md says:
#   hex(HMAC-SM3(secret_bytes, METHOD \n PATH_AND_QUERY \n TIMESTAMP \n NONCE \n hex(SM3(BODY))))
# with the openssl command line (SM3 is in OpenSSL 3).
#   scripts/jzcurl.sh GET /v1/audit/head
#   scripts/jzcurl.sh POST /v1/institutions '{"id":"icbc","name":"ICBC","kind":"operator"}'
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 METHOD PATH [BODY]   (credentials: \$JZ_CREDENTIALS or ./jiaozi-data/central.json)" >&2
    exit 2
fi
method=$1
path=$2
body=${3:-}
creds=${JZ_CREDENTIALS:-./jiaozi-data/central.json}
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$creds"; }
key_id=$(field key_id)
secret=$(field secret)
url=$(field url)
if [[ -z $key_id || -z $secret || -z $url ]]; then
    echo "$0: $creds lacks key_id, secret or url" >&2
    exit 1
fi
ts=$(( $(date +%s%N) / 1000000 ))
nonce=$(openssl rand -hex 16)
body_hash=$(printf '%s' "$body" | openssl dgst -sm3 -r | cut -d' ' -f1)
signature=$(printf '%s\n%s\n%s\n%s\n%s' "$method" "$path" "$ts" "$nonce" "$body_hash" |
    openssl dgst -sm3 -mac HMAC -macopt "hexkey:$secret" -r | cut -d' ' -f1)
args=(-sS -X "$method" "$url$path" -H "X-JZ-Key: $key_id" -H "X-JZ-Timestamp: $ts"
      -H "X-JZ-Nonce: $nonce" -H "X-JZ-Signature: $signature")
if [[ -n $body ]]; then
    args+=(-H "Content-Type: application/json" --data-binary "$body")
fi
curl "${args[@]}"
echo
