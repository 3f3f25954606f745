#!/usr/bin/env bash
# The whole test suite from a fresh clone: set up what is missing, then format, lint and test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deploy/setup-dev.sh
source deploy/dev-env.sh
# A one-off build gains nothing from incremental state, which costs GBs of disk.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -q -- -D warnings
cargo test --workspace --locked
