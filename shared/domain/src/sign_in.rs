//! Who a token belongs to, and how a token is kept: its hash.
//!
//! Plain data and a pure function, shared by the store (which keeps
//! sign-ins in Redis) and the auth layer (which hands them to handlers),
//! so the auth layer needs no Redis client.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::Role;

/// Who a token belongs to; what every RPC learns about its caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub login_id: Uuid,
    pub school_number: String,
    pub full_name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    pub started_ms: i64,
    pub expires_ms: i64,
}

/// The hex SHA-256 of a token. Tokens carry 256 random bits, so an
/// unsalted fast hash is enough to make a leaked Redis useless to an attacker.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_hex_sha256_and_never_the_token() {
        let hash = hash_token("secret-token");
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("secret"));
        assert_eq!(hash, hash_token("secret-token"));
        assert_ne!(hash, hash_token("secret-tokeN"));
    }
}
