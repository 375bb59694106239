//! What every ATTN service shares at run time.
//!
//! - [`settings`]: typed settings from defaults, an optional file and `ATTN_*` variables.
//! - [`serve`]: a gRPC server with health, reflection, the auth layer and
//!   graceful shutdown.
//! - [`auth`]: the one tower layer that checks tokens and roles and works out
//!   the client's address.
//! - [`error`]: the one place domain and store errors become gRPC statuses.
//! - [`metrics_server`]: the admin listener serving Prometheus text at `/metrics`.
//! - [`deadline`]: the caller's deadline, for handlers that must finish inside it.
//! - [`request_timeout`]: the server's limit on a call, answered with details.

pub mod auth;
pub mod deadline;
pub mod error;
pub mod error_details;
pub mod internal;
pub mod metrics_server;
pub mod reason;
pub mod request_timeout;
pub mod serve;
pub mod settings;
pub mod shutdown;
mod static_files;

pub use auth::{AuthLayer, Caller, ClientAddress, SignIns};
pub use error::{ApiError, ApiResult};
pub use reason::{ERROR_DOMAIN, Reason, reason_of};
pub use shutdown::Shutdown;
