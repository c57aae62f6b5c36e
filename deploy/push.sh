#!/usr/bin/env bash
# Builds the app and pushes it to an OCI registry as one Spin artifact, which
# SpinKube (spec.image) and Fermyon Cloud (spin cloud deploy --from) both run.
#
#   deploy/push.sh ghcr.io/<owner>/social [version]
#
# The version defaults to spin.toml's; the manifests in deploy/spinkube name
# ghcr.io/social-network/social:<version>. Log in first:
#   spin registry login ghcr.io -u <user> --password-stdin
set -euo pipefail
cd "$(dirname "$0")/.."

repository=${1:?usage: deploy/push.sh <registry>/<owner>/social [version]}
# The first `version = "…"` in spin.toml is the [application] one.
version=${2:-$(sed -n 's/^version = "\(.*\)"$/\1/p' spin.toml | head -n 1)}
spin=${SPIN:-spin}

"$spin" build
"$spin" registry push "$repository:$version"
echo "pushed $repository:$version"
