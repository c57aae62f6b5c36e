#!/usr/bin/env bash
# Times the probe's routes under real Spin with wrk, alternating WASIp2 and
# WASIp3, on a copy of a post store the app has written (the seeded one of
# BENCHMARKS.md, `/tmp/lt/posts.db`, by default).
#   tools/wasip3-probe/measure.sh [posts.db] [rounds] [seconds per route]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
spin=${SPIN:-$here/../../../shared/tools/spin}
source_db=${1:-/tmp/lt/posts.db}
rounds=${2:-2}
seconds=${3:-8}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# The probe writes to a table of its own, beside the app's schema, so a new
# connection still parses the app's whole schema as the app's does.
cp "$source_db" "$work/posts.db"
python3 - "$work/posts.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY,"
           " author INTEGER NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL)")
db.execute("CREATE INDEX IF NOT EXISTS probe_by_author ON probe (author, id)")
db.commit()
PY
printf '[sqlite_database.posts]\ntype = "spin"\npath = "%s/posts.db"\n[key_value_store.default]\ntype = "spin"\npath = "%s/kv.db"\n' \
    "$work" "$work" > "$work/rc.toml"

# Another server on the port would answer in this one's place.
if curl -s -o /dev/null http://127.0.0.1:3300/; then
    echo "something already listens on 127.0.0.1:3300; stop it first" >&2
    exit 1
fi
(cd "$here" && "$spin" build >/dev/null)
"$spin" up --from "$here/spin.toml" --listen 127.0.0.1:3300 \
    --runtime-config-file "$work/rc.toml" > "$work/spin.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:3300/p2/hello >/dev/null && break; sleep 0.2; done
kill -0 "$pid" || { cat "$work/spin.log" >&2; exit 1; }

time_route() {
    wrk -t2 -c32 -d"${seconds}s" --latency "http://127.0.0.1:3300/$1" |
        awk -v r="$1" '/Requests\/sec/{q=$2} / 50%/{a=$2} / 99%/{b=$2} /Non-2xx/{e=$5}
            END{printf "%-10s %10s %9s %9s %7d\n", r, q, a, b, e}'
}
printf '%-10s %10s %9s %9s %7s\n' route req/s p50 p99 non-2xx
for _ in $(seq "$rounds"); do
    for route in p2/hello p3/hello p2/read p3/read p2/insert p3/fresh p3/shared p3/pool p3/txretry \
        p2/compose p3/compose p3/compose-sync; do
        time_route "$route"
    done
done
# Last, then hello again: did waiting for the lock inside SQLite harm the server?
time_route p3/tx
time_route p2/hello
# Three requests in a row: a reused instance counts on from the last.
echo "requests served, as three calls in a row saw it: $(for _ in 1 2 3; do curl -s http://127.0.0.1:3300/p3/served; done | tr "\n" " ")"
