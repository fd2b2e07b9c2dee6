#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: set-up, formatting, lints, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo fmt --all --check
# One build serves the lints and the tests: clippy-driver compiles Glimpse's own targets with
# code generation and every clippy lint (warnings denied), while the dependencies are built
# once, as plain rustc would. A separate `cargo clippy` would type-check every dependency a
# second time. Incremental compilation only slows a build that starts from nothing.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS=-Dwarnings CARGO_INCREMENTAL=0
cargo test --locked --no-fail-fast
