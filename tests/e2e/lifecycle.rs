//! Shutting down: health turns NOT_SERVING, in-flight calls finish, open
//! streams end with UNAVAILABLE so clients reconnect elsewhere.

use std::{sync::Arc, time::Duration};

use attn_e2e::TestEnv;
use attn_proto::{
    internal::v1::{
        CheckNetworkRequest, CheckNetworkResponse, GetCapabilitiesRequest, GetCapabilitiesResponse,
        GetFaceCheckRequest, GetFaceCheckResponse, SubmitFaceCheckRequest, SubmitFaceCheckResponse,
        verification_service_server::{VerificationService, VerificationServiceServer},
    },
    v1::WatchRecordsRequest,
};
use futures::StreamExt;
use tokio::sync::Notify;
use tonic::{Code, Request, Response, Status};

use tonic_types::StatusExt;

use crate::common::{attend, reason_of, start};

/// A verification-service that says when a network check has arrived (a
/// call that is surely in flight) and answers it only when the test lets it.
struct SlowVerifier {
    called: Arc<Notify>,
    release: Arc<Notify>,
}

#[tonic::async_trait]
impl VerificationService for SlowVerifier {
    async fn check_network(&self, _: Request<CheckNetworkRequest>) -> Result<Response<CheckNetworkResponse>, Status> {
        self.called.notify_one();
        self.release.notified().await;
        Ok(Response::new(CheckNetworkResponse { passed: true, reason: String::new() }))
    }
    async fn submit_face_check(
        &self,
        _: Request<SubmitFaceCheckRequest>,
    ) -> Result<Response<SubmitFaceCheckResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn get_face_check(&self, _: Request<GetFaceCheckRequest>) -> Result<Response<GetFaceCheckResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn get_capabilities(
        &self,
        _: Request<GetCapabilitiesRequest>,
    ) -> Result<Response<GetCapabilitiesResponse>, Status> {
        Ok(Response::new(GetCapabilitiesResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_lets_an_in_flight_check_in_finish_and_ends_streams_with_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}", listener.local_addr().unwrap());
    let called = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(VerificationServiceServer::new(SlowVerifier {
                called: called.clone(),
                release: release.clone(),
            }))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    // The check-in is answered when the test says, after what it checks during
    // the drain; the grace period and the call's own timeout only bound a
    // failure, far past any stall.
    let env = TestEnv::start_with(|opts| {
        opts.attendance.verification_url = slow;
        opts.attendance.verification_timeout_ms = 60_000;
        opts.attendance.server.shutdown_grace_ms = 60_000;
    })
    .await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Last lesson", 2, &["127.0.0.0/16"]).await.unwrap();
    let mut roster = teacher
        .watch_records(WatchRecordsRequest { attendance_id: session.attendance_id.clone() })
        .await
        .unwrap()
        .into_inner();
    roster.next().await.unwrap().unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(env.channel().await);
    let mut serving =
        health.watch(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(serving.next().await.unwrap().unwrap().status, 1, "SERVING at first");

    let mut student = clients.demo_student(1).await;
    let id = session.attendance_id.clone();
    let in_flight = tokio::spawn(async move { attend(&mut student, &id, "last-call").await });
    called.notified().await;
    env.shutdown().trigger();

    // Health says NOT_SERVING, so balancers send nothing new...
    let status = tokio::time::timeout(Duration::from_secs(30), serving.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(status.status, 2, "NOT_SERVING");
    // ...the roster stream ends telling the client to reconnect...
    let ended = tokio::time::timeout(Duration::from_secs(30), roster.next()).await.expect("the stream ends");
    let status = ended.expect("an error, not a silent end").unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason_of(&status), attn_runtime::Reason::ShuttingDown);
    let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
    assert_eq!(retry, Some(Duration::from_secs(1)), "reconnect after a short pause");
    // ...and the check-in already under way completes.
    release.notify_one();
    let record = in_flight.await.unwrap().expect("the in-flight call finishes");
    assert!(record.is_attended);
}

/// grpcurl 1.8 asks v1alpha (the client tests cover that); newer tools ask v1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_lists_exactly_the_services_each_port_serves() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let list = |addr: std::net::SocketAddr| async move {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::once(request))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) = answers.next().await.unwrap().unwrap().message_response
        else {
            panic!("a list of services")
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        names
    };
    let standard =
        ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];
    let mut expected: Vec<&str> = ["attn.v1.AuthService", "attn.v1.StudentService", "attn.v1.TeacherService"].into();
    expected.extend(standard);
    assert_eq!(list(env.attendance_addr).await, expected);
    let mut expected = vec!["attn.internal.v1.VerificationService"];
    expected.extend(standard);
    assert_eq!(list(env.verification_addr).await, expected);
    let mut expected = vec!["attn.v1.SweeperService"];
    expected.extend(standard);
    assert_eq!(list(sweeper.addr).await, expected);

    // Asked by name, only the port serving the internal package describes it.
    let describe = |addr: std::net::SocketAddr, symbol: &'static str| async move {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(symbol.into())),
        };
        let mut answers = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::once(request))
            .await
            .unwrap()
            .into_inner();
        // tonic-reflection ends the stream with the error rather than sending an ErrorResponse.
        match answers.next().await.expect("an answer") {
            Ok(answer) => match answer.message_response {
                Some(MessageResponse::FileDescriptorResponse(files)) => Ok(files.file_descriptor_proto.len()),
                Some(MessageResponse::ErrorResponse(error)) => Err(error.error_code),
                other => panic!("a descriptor or an error, not {other:?}"),
            },
            Err(status) => Err(status.code() as i32),
        }
    };
    let internal = "attn.internal.v1.VerificationService";
    assert_eq!(describe(env.attendance_addr, internal).await, Err(tonic::Code::NotFound as i32));
    assert_eq!(describe(sweeper.addr, internal).await, Err(tonic::Code::NotFound as i32));
    assert!(describe(env.verification_addr, internal).await.is_ok_and(|files| files > 0));
    assert!(describe(env.attendance_addr, "attn.v1.StudentService").await.is_ok_and(|files| files > 0));
}
