//! ATTN's stores: live state in Redis, the permanent record in PostgreSQL.
//!
//! The services hold these small types and call them; the domain rules they
//! apply live in `attn-domain`. Nothing here decides who may do what.
//!
//! The store meets the services' shared runtime (attn-runtime) here, not
//! there: it implements the auth layer's sign-in lookup
//! ([`attn_runtime::auth::SignIns`]) and turns its errors into
//! [`attn_runtime::ApiError`]s, and it holds its own settings sections
//! ([`config`]), start-up checks ([`preflight`]) and pool gauges
//! ([`pool_metrics`]). So attn-runtime, and verification-service with it,
//! links no Redis or PostgreSQL client.

pub mod archive;
pub mod config;
pub mod durability;
pub mod edit;
mod error;
pub mod events;
pub mod face_queue;
pub mod keys;
pub mod lease;
pub mod legacy_layout;
pub mod live;
pub mod pool_metrics;
pub mod preflight;
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
