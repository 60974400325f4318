#!/usr/bin/env bash
# The README's test command: every test, set-up included, on a fresh machine
# too. The Redis tests (tests/quota_redis.rs, Redis Cluster included) start
# their own servers and need `redis-server` and `redis-cli` installed: this
# installs them when missing (Debian/Ubuntu, as root or with password-less
# sudo), then runs `cargo test --all-features` with any arguments given.
#
#   bash scripts/test.sh                  # every test
#   bash scripts/test.sh --test reqwest   # one file
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
if ((${#missing[@]})); then
    echo "==> installing ${missing[*]} (the Redis tests start their own servers)"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "no apt-get here: install Redis (redis-server and redis-cli, e.g. 'brew install redis'), then run this again" >&2
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo)
    else
        echo "not root: run 'sudo apt-get update && sudo apt-get install -y ${missing[*]}', then run this again" >&2
        exit 1
    fi
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

exec cargo test --all-features "$@"
