#!/usr/bin/env bash
# Contract fuzzing: Schemathesis generates requests from openapi.json and
# checks every answer against it, in both deployment modes, under real Spin
# ($SPIN, or ../shared/tools/spin) or else the embedded host. Fails on any
# failure, or on fewer than $MIN_CASES cases in a mode.
#
#   tests/contract/schemathesis.sh            # what .ci/run runs
#   EXAMPLES=200 tests/contract/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
EXAMPLES=${EXAMPLES:-50}
MIN_CASES=${MIN_CASES:-1000}
VERSION=4.32.5
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Schemathesis, in its own virtual environment.
VENV=${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV" 2>/dev/null || {
    apt-get install -y -q python3-venv >/dev/null && python3 -m venv "$VENV"
  }
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi

# The runtime: real Spin when there is one, else the embedded host.
SPIN=${SPIN:-}
if [ -z "$SPIN" ] && [ -e ../shared/tools/spin ]; then SPIN=$(realpath ../shared/tools/spin); fi
if [ -z "$SPIN" ]; then
  cargo build -q -p host
  SPIN=$ROOT/target/debug/host
fi
echo "schemathesis $VERSION against $SPIN"

cat > "$WORK/rc.toml" <<TOML
[sqlite_database.users]
type = "spin"
path = "$WORK/users.db"
[sqlite_database.posts]
type = "spin"
path = "$WORK/posts.db"
[sqlite_database.feed]
type = "spin"
path = "$WORK/feed.db"
[key_value_store.post_cache]
type = "spin"
[key_value_store.feed_cache]
type = "spin"
TOML

CREDENTIAL=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
VARIABLES=(--variable password_iterations=1000 --variable "service_credential=$CREDENTIAL")
for limit in signups failed_logins_per_user failed_logins_per_address follows posts likes; do
  VARIABLES+=(--variable "rate_limit_$limit=0")
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts one instance (extra flags after the name) and waits until it answers.
start() {
  local name=$1 port=$2; shift 2
  "$SPIN" up --from "$ROOT/spin.toml" --listen "127.0.0.1:$port" \
    --runtime-config-file "$WORK/rc.toml" --state-dir "$WORK/state-$name" \
    "${VARIABLES[@]}" "$@" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 600); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/openapi.json' if '$name' in ('app','user') else 'http://127.0.0.1:$port/health/$name', timeout=1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK/$name.log"; echo "$name did not start" >&2; return 1
}

# Runs Schemathesis on the operations whose path matches $1 (and not $4,
# if given) at $2; prints how many cases it generated.
fuzz() {
  local paths=$1 url=$2 user_url=$3 exclude=${4:-} log
  log=$(mktemp -p "$WORK")
  if ! USER_URL=$user_url SERVICE_CREDENTIAL=$CREDENTIAL SCHEMATHESIS_HOOKS=hooks \
    PYTHONPATH="$ROOT/tests/contract" "$VENV/bin/schemathesis" run "$ROOT/openapi.json" \
    --url "$url" --include-path-regex "$paths" ${exclude:+--exclude-path-regex "$exclude"} -n "$EXAMPLES" --checks "$CHECKS" \
    --request-timeout 10 --no-color > "$log" 2>&1; then
    cat "$log" >&2
    return 1
  fi
  grep -A12 "SUMMARY" "$log" >&2
  grep -oE '[0-9]+ generated' "$log" | tail -1 | cut -d' ' -f1
}

check_cases() {
  if [ "$2" -lt "$MIN_CASES" ]; then echo "$1: only $2 cases (want $MIN_CASES)" >&2; exit 1; fi
  echo "$1: $2 cases, no failures"
}

echo "== one application"
PORT=$(free_port)
# The WASIp3 post reaches its own application through the listener (ADR 0034).
start app "$PORT" --variable "app_url=http://127.0.0.1:$PORT"
cases=$(fuzz '.*' "http://127.0.0.1:$PORT" "http://127.0.0.1:$PORT")
check_cases "one application" "$cases"

echo "== three instances"
U=$(free_port); P=$(free_port); F=$(free_port)
URLS=(--variable "user_service_url=http://127.0.0.1:$U" --variable "post_service_url=http://127.0.0.1:$P"
  --variable "feed_service_url=http://127.0.0.1:$F")
start user "$U" -c user "${URLS[@]}"
start post "$P" -c post "${URLS[@]}"
start feed "$F" -c feed "${URLS[@]}"
# Each count is taken apart from the sum: a failure inside $((…)) would
# not stop the script. The post's relay runs only in one application
# (ADR 0034); apart, its paths are not served at all.
user_cases=$(fuzz '^/(users|auth|openapi\.json|health/user|internal/user)' "http://127.0.0.1:$U" "http://127.0.0.1:$U")
post_cases=$(fuzz '^/(posts|health/post|internal/post)' "http://127.0.0.1:$P" "http://127.0.0.1:$U" '^/internal/post/relay')
feed_cases=$(fuzz '^/(feed|health/feed|internal/feed)' "http://127.0.0.1:$F" "http://127.0.0.1:$U")
total=$((user_cases + post_cases + feed_cases))
check_cases "three instances" "$total"
