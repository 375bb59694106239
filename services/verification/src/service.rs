//! The VerificationService RPCs.

use std::net::IpAddr;

use attn_domain::network::{check_network, parse_networks};
use attn_proto::v1::{
    CheckNetworkRequest, CheckNetworkResponse, GetCapabilitiesRequest, GetCapabilitiesResponse, GetFaceCheckRequest,
    GetFaceCheckResponse, SubmitFaceCheckRequest, SubmitFaceCheckResponse,
    verification_service_server::VerificationService,
};
use attn_runtime::ApiError;
use ipnet::IpNet;
use tonic::{Request, Response, Status};

use crate::face_check::FaceChecks;

#[derive(Debug, Clone)]
pub struct Verifier {
    campus_networks: Vec<IpNet>,
    face: FaceChecks,
}

impl Verifier {
    pub fn new(campus_networks: Vec<IpNet>, face: FaceChecks) -> Self {
        Self { campus_networks, face }
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
        let job_id = self.face.submit(request.into_inner()).await?;
        Ok(Response::new(SubmitFaceCheckResponse { job_id }))
    }

    #[tracing::instrument(skip_all, fields(job_id = %request.get_ref().job_id))]
    async fn get_face_check(
        &self,
        request: Request<GetFaceCheckRequest>,
    ) -> Result<Response<GetFaceCheckResponse>, Status> {
        Ok(Response::new(self.face.result(&request.get_ref().job_id).await?))
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
