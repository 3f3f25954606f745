#!/usr/bin/env bash
# The whole test suite from a fresh clone: set up what is missing, then format, lint and test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deploy/setup-dev.sh
source deploy/dev-env.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -q -- -D warnings
cargo test --workspace --locked
