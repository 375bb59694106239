//! Property tests ("fuzzing") of the parsers a client controls.
//!
//! Each property feeds arbitrary input and input shaped like the real thing
//! (headers, CIDRs, images, CSV) and checks what the function's contract
//! promises, not only that it returns. One test binary for all of them: a
//! single link on a 2-core machine, and `--test fuzz` runs the lot.
//!
//! `cargo test -p attn-domain` runs proptest's default of 256 inputs per
//! property. A longer session:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test -p attn-domain --release --test fuzz
//! ```
//!
//! A failure prints the smallest input proptest found and saves its seed in
//! `tests/proptest-regressions/`; commit that file with the fix (and a unit
//! test that reads as a sentence), and the input is tried first on every
//! later run.

mod client_address;
mod download_address;
mod network;
mod paging_access;
mod roster;
mod selfie;
mod strategies;
mod validate;
