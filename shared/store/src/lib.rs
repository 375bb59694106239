//! ATTN's stores: live state in Redis, the permanent record in PostgreSQL.
//!
//! The services hold these small types and call them; the domain rules they
//! apply live in `attn-domain`. Nothing here decides who may do what.

pub mod archive;
pub mod durability;
mod error;
pub mod events;
pub mod face_queue;
pub mod keys;
pub mod lease;
pub mod legacy_layout;
pub mod live;
pub mod rate_limits;
pub mod redis;
pub mod revocations;
mod scripts;
mod shards;
pub mod sign_in_cache;
pub mod tokens;

pub use archive::Archive;
pub use error::{StoreError, StoreResult, library_errors};
pub use keys::Keys;
pub use live::LiveStore;
pub use sign_in_cache::SignInCache;
pub use tokens::TokenStore;
