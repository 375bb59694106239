//! What every server stream carries besides its data (see `sign_in.rs`).

mod sign_in;

pub use sign_in::{SignInWatch, StreamSlots};
