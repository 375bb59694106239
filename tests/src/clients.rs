//! gRPC clients for tests, signed in as someone.

use attn_proto::v1::{
    LoginRequest, auth_service_client::AuthServiceClient, student_service_client::StudentServiceClient,
    teacher_service_client::TeacherServiceClient,
};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

/// Adds `authorization: Bearer <token>` (and any extra metadata) to every call.
#[derive(Clone)]
pub struct Bearer {
    token: Option<String>,
    extra: Vec<(&'static str, String)>,
}

pub fn bearer(token: &str) -> Bearer {
    Bearer { token: Some(token.to_owned()), extra: Vec::new() }
}

impl Bearer {
    pub fn none() -> Self {
        Self { token: None, extra: Vec::new() }
    }

    /// Also send this metadata on every call (e.g. a forged x-forwarded-for);
    /// the same key twice sends it twice.
    pub fn with(mut self, key: &'static str, value: &str) -> Self {
        self.extra.push((key, value.to_owned()));
        self
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.token {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii token");
            request.metadata_mut().insert("authorization", value);
        }
        for (key, value) in &self.extra {
            // Appended, so a test can send a header more than once.
            request.metadata_mut().append(*key, value.parse().expect("ascii metadata"));
        }
        Ok(request)
    }
}

pub type TeacherClient = TeacherServiceClient<InterceptedService<Channel, Bearer>>;
pub type StudentClient = StudentServiceClient<InterceptedService<Channel, Bearer>>;

/// Clients over one channel to attendance-service.
#[derive(Clone)]
pub struct Clients {
    pub channel: Channel,
}

impl Clients {
    pub async fn login(&self, username: &str, password: &str) -> Result<String, Status> {
        let response = AuthServiceClient::new(self.channel.clone())
            .login(LoginRequest { username: username.to_owned(), password: password.to_owned() })
            .await?;
        Ok(response.into_inner().access_token)
    }

    pub fn teacher(&self, auth: Bearer) -> TeacherClient {
        TeacherServiceClient::with_interceptor(self.channel.clone(), auth)
    }

    pub fn student(&self, auth: Bearer) -> StudentClient {
        StudentServiceClient::with_interceptor(self.channel.clone(), auth).max_encoding_message_size(16 * 1024 * 1024)
    }

    pub fn auth(&self, auth: Bearer) -> AuthServiceClient<InterceptedService<Channel, Bearer>> {
        AuthServiceClient::with_interceptor(self.channel.clone(), auth)
    }

    /// Signs in a demo teacher and returns a client for them.
    pub async fn demo_teacher(&self, n: usize) -> TeacherClient {
        let token = self.login(&format!("demo_teacher_{n}"), "password").await.expect("demo teacher signs in");
        self.teacher(bearer(&token))
    }

    /// Signs in a demo student and returns a client for them.
    pub async fn demo_student(&self, n: usize) -> StudentClient {
        let token = self.login(&format!("demo_student_{n}"), "password").await.expect("demo student signs in");
        self.student(bearer(&token))
    }
}
