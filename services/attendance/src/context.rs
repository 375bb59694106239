//! What every handler works with: the stores, the verification client and
//! the settings that shape their rules.

use std::{sync::Arc, time::Duration};

use attn_domain::{Clock, SecurityOption, check_in_code::CheckInCode, network::parse_networks};
use attn_runtime::{ApiError, ApiResult, Shutdown, internal::VerificationClient};
use attn_store::{
    Archive, LiveStore, TokenStore, events::EventHub, face_queue::FaceQueue, revocations::RevocationFeed,
};
use ipnet::IpNet;
use uuid::Uuid;

use crate::{limits::RateLimits, open_sessions::OpenSessions, passwords::Passwords, streams::StreamSlots};

/// A session's check-in settings. They never change after StartAttendance,
/// so each replica caches them and a check-in skips a Redis round trip.
#[derive(Debug, Clone)]
pub struct CheckInSettings {
    pub security_option: SecurityOption,
    pub networks: Arc<[String]>,
    /// The rotating code check-ins must carry, if the session asks for one.
    pub check_in_code: Option<CheckInCode>,
    /// The course, when only its enrolled students may check in (the
    /// check-in script checks the enrolment; this names the course).
    pub enrolled_only: Option<Arc<str>>,
}

pub struct Context {
    pub live: LiveStore,
    pub archive: Archive,
    pub tokens: TokenStore,
    pub hub: Arc<EventHub>,
    /// This replica's copy of the open sessions, for search.
    pub open_sessions: Arc<OpenSessions>,
    pub face_queue: FaceQueue,
    pub verification: VerificationClient,
    pub limits: Arc<RateLimits>,
    pub passwords: Passwords,
    /// Logouts from every replica, for the streams they end.
    pub revocations: Arc<RevocationFeed>,
    pub streams: StreamSlots,
    pub check_in_settings: quick_cache::sync::Cache<Uuid, CheckInSettings>,
    pub token_ttl: TokenTtl,
    pub selfie_max_bytes: usize,
    /// ATTN_PUBLIC_URL: the browser app's address, for the check-in code's QR payload.
    pub public_url: Option<Arc<str>>,
    /// ATTN_ATTENDANCE_WARNING_PERCENT, for course reports.
    pub warning_percent: u32,
    pub shutdown: Shutdown,
    /// An argon2 hash checked when a user has none, so unknown users take as
    /// long to refuse as wrong passwords.
    pub decoy_hash: Arc<str>,
    /// This App's own registry (served at ATTN_ATTENDANCE_METRICS_ADDR).
    pub metrics: attn_telemetry::Metrics,
    /// The time every rule is decided by (the wall clock, but for tests).
    pub clock: Clock,
}

#[derive(Debug, Clone, Copy)]
pub struct TokenTtl {
    pub teacher: Duration,
    pub student: Duration,
    pub admin: Duration,
}

impl Context {
    /// Now, by the injected clock: handlers never read the wall clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// What this deployment's verification-service offers.
    async fn capabilities(&self) -> ApiResult<attn_proto::internal::v1::GetCapabilitiesResponse> {
        let response = self
            .verification
            .clone()
            .get_capabilities(attn_proto::internal::v1::GetCapabilitiesRequest {})
            .await
            .map_err(ApiError::from)?;
        Ok(response.into_inner())
    }

    /// Does this deployment's verification-service have a face gateway?
    pub async fn face_checks_available(&self) -> ApiResult<bool> {
        Ok(self.capabilities().await?.face_checks)
    }

    /// The deployment's campus networks (verification-service's
    /// ATTN_CAMPUS_NETWORKS), which pass the network check for every session.
    pub async fn campus_networks(&self) -> ApiResult<Vec<IpNet>> {
        let campus = self.capabilities().await?.campus_networks;
        parse_networks("campus_networks", &campus)
            .map_err(|err| ApiError::internal(format!("verification-service sent bad campus networks: {err}")))
    }
}
