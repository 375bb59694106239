//! ATTN's rules, as pure functions with no I/O.
//!
//! Services call these to decide; the stores and the gRPC layer only move
//! data. Everything here is unit-tested without Redis, PostgreSQL or a network.

pub mod access;
pub mod audit;
pub mod check_in_code;
pub mod client_address;
pub mod clock;
pub mod course;
pub mod download_address;
pub mod export;
pub mod face;
pub mod fail_code;
pub mod invalid;
pub mod network;
pub mod paging;
pub mod record;
pub mod roster;
pub mod search;
pub mod security;
pub mod selfie;
pub mod session;
pub mod sign_in;
pub mod time_zone;
pub mod validate;

pub use access::{Access, Role};
pub use audit::AuditEntry;
pub use clock::Clock;
pub use fail_code::FailCode;
pub use invalid::{Invalid, Invalids};
pub use record::{AttendConflict, Record, RecordStatus, Roster};
pub use security::SecurityOption;
pub use session::{SessionMeta, SessionState};
