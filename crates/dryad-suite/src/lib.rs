//! The DRYAD performance suite's end-to-end tests live in `tests/`: they run the real `cicada`
//! binary against a real `dryad` process (the scenario in `tests/load/dryad.toml`) and check the
//! report against dryad's own counters, and that the managed target leaves no process behind.
//!
//! They need both binaries built in the same target directory, which `cargo test --workspace`
//! does before running any test.
