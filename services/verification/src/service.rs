//! The VerificationService RPCs.

use std::{net::IpAddr, time::Duration};

use attn_domain::network::{check_network, parse_networks};
use attn_proto::internal::v1::{
    CheckNetworkRequest, CheckNetworkResponse, GetCapabilitiesRequest, GetCapabilitiesResponse, GetFaceCheckRequest,
    GetFaceCheckResponse, SubmitFaceCheckRequest, SubmitFaceCheckResponse,
    verification_service_server::VerificationService,
};
use attn_runtime::{ApiError, deadline::grpc_timeout};
use ipnet::IpNet;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::face_check::FaceChecks;

/// Kept from the caller's deadline for the answer to travel back, so the
/// caller hears our UNAVAILABLE rather than its own timeout.
const ANSWER_MARGIN: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct Verifier {
    campus_networks: Vec<IpNet>,
    face: FaceChecks,
    /// The server's own limit on a call (ATTN_REQUEST_TIMEOUT_MS).
    request_timeout: Duration,
}

impl Verifier {
    pub fn new(campus_networks: Vec<IpNet>, face: FaceChecks, request_timeout: Duration) -> Self {
        Self { campus_networks, face, request_timeout }
    }

    /// When the work for `request` must be done: the caller's deadline or
    /// the server's, whichever comes first, less the answer's margin.
    fn deadline_of<T>(&self, request: &Request<T>) -> Instant {
        let allowed = grpc_timeout(request.metadata()).map_or(self.request_timeout, |t| t.min(self.request_timeout));
        Instant::now() + allowed.saturating_sub(ANSWER_MARGIN)
    }
}

#[tonic::async_trait]
impl VerificationService for Verifier {
    #[tracing::instrument(skip_all)]
    async fn check_network(
        &self,
        request: Request<CheckNetworkRequest>,
    ) -> Result<Response<CheckNetworkResponse>, Status> {
        let request = request.into_inner();
        let session = parse_networks("networks", &request.networks).map_err(ApiError::from)?;
        let client = match request.client_address.trim() {
            "" => None,
            text => Some(text.parse::<IpAddr>().map_err(|_| {
                ApiError::from(attn_domain::Invalid::new("client_address", format!("{text:?} is not an IP address")))
            })?),
        };
        let verdict = check_network(client, &session, &self.campus_networks);
        Ok(Response::new(CheckNetworkResponse { passed: verdict.passed(), reason: verdict.fail_reason().to_owned() }))
    }

    // Fields, not the request: it carries the selfie and the photo.
    #[tracing::instrument(skip_all, fields(student = %request.get_ref().student_number))]
    async fn submit_face_check(
        &self,
        request: Request<SubmitFaceCheckRequest>,
    ) -> Result<Response<SubmitFaceCheckResponse>, Status> {
        let deadline = self.deadline_of(&request);
        let job_id = self.face.submit(request.into_inner(), deadline).await?;
        Ok(Response::new(SubmitFaceCheckResponse { job_id }))
    }

    #[tracing::instrument(skip_all, fields(job_id = %request.get_ref().job_id))]
    async fn get_face_check(
        &self,
        request: Request<GetFaceCheckRequest>,
    ) -> Result<Response<GetFaceCheckResponse>, Status> {
        let deadline = self.deadline_of(&request);
        Ok(Response::new(self.face.result(&request.get_ref().job_id, deadline).await?))
    }

    async fn get_capabilities(
        &self,
        _request: Request<GetCapabilitiesRequest>,
    ) -> Result<Response<GetCapabilitiesResponse>, Status> {
        Ok(Response::new(GetCapabilitiesResponse {
            face_checks: self.face.enabled(),
            campus_networks: self.campus_networks.iter().map(ToString::to_string).collect(),
        }))
    }
}
