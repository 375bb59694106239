//! TeacherService. The auth layer has already checked the caller is a
//! teacher; every RPC that names a session also checks it is theirs, and
//! answers NOT_FOUND otherwise, so other teachers' sessions stay invisible.

mod audit;
mod check_in_code;
mod courses;
mod export;
mod records;
mod roster;
mod sessions;

use std::sync::Arc;

use attn_proto::v1::{
    AcceptStudentRequest, AcceptStudentResponse, AddStudentRequest, AddStudentResponse, DeleteAttendanceRequest,
    DeleteAttendanceResponse, DeleteRecordRequest, DeleteRecordResponse, ExcuseStudentRequest, ExcuseStudentResponse,
    ExportCourseReportRequest, ExportCourseReportResponse, ExportSessionRecordsRequest, ExportSessionRecordsResponse,
    FailStudentRequest, FailStudentResponse, FinishAttendanceRequest, FinishAttendanceResponse, GetCourseReportRequest,
    GetCourseReportResponse, GetLiveAttendanceRequest, GetLiveAttendanceResponse, ListAttendancesRequest,
    ListAttendancesResponse, ListAuditEventsRequest, ListAuditEventsResponse, ListCoursesRequest, ListCoursesResponse,
    ListRecordsRequest, ListRecordsResponse, StartAttendanceRequest, StartAttendanceResponse, WatchCheckInCodeRequest,
    WatchCheckInCodeResponse, WatchRecordsRequest, WatchRecordsResponse, teacher_service_server::TeacherService,
};
use attn_runtime::{ApiError, ApiResult, Caller, ClientAddress, Reason};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{context::Context, streams::BoxStream};

pub struct Teacher {
    pub ctx: Arc<Context>,
}

/// A session id the teacher does not own reads the same as one that does not exist.
pub(crate) fn no_such_session(id: impl std::fmt::Display) -> attn_runtime::ApiError {
    attn_runtime::ApiError::new(attn_runtime::Reason::SessionNotFound, format!("you have no attendance session {id}"))
        .with("attendance_id", id)
}

/// A course the caller does not teach reads the same as one that does not
/// exist, and as a session that is not theirs: NOT_FOUND.
pub(crate) fn no_such_course(code: &str) -> ApiError {
    ApiError::new(Reason::SessionNotFound, format!("you teach no course {code}")).with("course_code", code)
}

/// Where a teacher's edit goes once it leaves the live copy: on to the
/// archive, unless the session is still live (every attempt lost its race),
/// which the teacher hears as `contended`, to try again.
pub(crate) async fn archive_unless_live(ctx: &Context, id: Uuid, contended: &'static str) -> ApiResult<()> {
    if ctx.live.session(id).await?.is_some() {
        return Err(ApiError::new(Reason::Contended, contended));
    }
    Ok(())
}

#[tonic::async_trait]
impl TeacherService for Teacher {
    #[tracing::instrument(skip_all)]
    async fn start_attendance(
        &self,
        request: Request<StartAttendanceRequest>,
    ) -> Result<Response<StartAttendanceResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let address = ClientAddress::of(&request);
        let attendance = sessions::start(&self.ctx, &caller, address, request.into_inner()).await?;
        Ok(Response::new(StartAttendanceResponse { attendance: Some(attendance) }))
    }

    #[tracing::instrument(skip_all)]
    async fn finish_attendance(
        &self,
        request: Request<FinishAttendanceRequest>,
    ) -> Result<Response<FinishAttendanceResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let attendance = sessions::finish(&self.ctx, &caller, &request.into_inner().attendance_id).await?;
        Ok(Response::new(FinishAttendanceResponse { attendance: Some(attendance) }))
    }

    async fn get_live_attendance(
        &self,
        request: Request<GetLiveAttendanceRequest>,
    ) -> Result<Response<GetLiveAttendanceResponse>, Status> {
        let caller = Caller::of(&request)?;
        let attendance = sessions::live(&self.ctx, caller).await?;
        Ok(Response::new(GetLiveAttendanceResponse { attendance }))
    }

    async fn list_attendances(
        &self,
        request: Request<ListAttendancesRequest>,
    ) -> Result<Response<ListAttendancesResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(sessions::list(&self.ctx, &caller, request.into_inner()).await?))
    }

    async fn list_records(
        &self,
        request: Request<ListRecordsRequest>,
    ) -> Result<Response<ListRecordsResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(records::list(&self.ctx, &caller, &request.into_inner().attendance_id).await?))
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(audit::list(&self.ctx, &caller, &request.into_inner().attendance_id).await?))
    }

    type ExportSessionRecordsStream = BoxStream<ExportSessionRecordsResponse>;

    async fn export_session_records(
        &self,
        request: Request<ExportSessionRecordsRequest>,
    ) -> Result<Response<Self::ExportSessionRecordsStream>, Status> {
        let caller = Caller::of(&request)?.clone();
        let stream = export::session_records(&self.ctx, &caller, &request.into_inner().attendance_id).await?;
        Ok(Response::new(stream))
    }

    type WatchRecordsStream = BoxStream<WatchRecordsResponse>;

    #[tracing::instrument(skip_all)]
    async fn watch_records(
        &self,
        request: Request<WatchRecordsRequest>,
    ) -> Result<Response<Self::WatchRecordsStream>, Status> {
        let caller = Caller::of(&request)?.clone();
        let stream = roster::watch(&self.ctx, &caller, &request.into_inner().attendance_id).await?;
        Ok(Response::new(stream))
    }

    type WatchCheckInCodeStream = BoxStream<WatchCheckInCodeResponse>;

    #[tracing::instrument(skip_all)]
    async fn watch_check_in_code(
        &self,
        request: Request<WatchCheckInCodeRequest>,
    ) -> Result<Response<Self::WatchCheckInCodeStream>, Status> {
        let caller = Caller::of(&request)?.clone();
        let stream = check_in_code::watch(&self.ctx, &caller, &request.into_inner().attendance_id).await?;
        Ok(Response::new(stream))
    }

    async fn list_courses(
        &self,
        request: Request<ListCoursesRequest>,
    ) -> Result<Response<ListCoursesResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(courses::list(&self.ctx, &caller).await?))
    }

    type ExportCourseReportStream = BoxStream<ExportCourseReportResponse>;

    async fn export_course_report(
        &self,
        request: Request<ExportCourseReportRequest>,
    ) -> Result<Response<Self::ExportCourseReportStream>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(courses::export_report(&self.ctx, &caller, request.into_inner()).await?))
    }

    async fn get_course_report(
        &self,
        request: Request<GetCourseReportRequest>,
    ) -> Result<Response<GetCourseReportResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(courses::report(&self.ctx, &caller, request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn accept_student(
        &self,
        request: Request<AcceptStudentRequest>,
    ) -> Result<Response<AcceptStudentResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let r = request.into_inner();
        let record = records::accept(&self.ctx, &caller, &r.attendance_id, &r.student_number).await?;
        Ok(Response::new(AcceptStudentResponse { record: Some(record) }))
    }

    #[tracing::instrument(skip_all)]
    async fn fail_student(
        &self,
        request: Request<FailStudentRequest>,
    ) -> Result<Response<FailStudentResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let r = request.into_inner();
        let record = records::fail(&self.ctx, &caller, &r.attendance_id, &r.student_number, &r.reason).await?;
        Ok(Response::new(FailStudentResponse { record: Some(record) }))
    }

    #[tracing::instrument(skip_all)]
    async fn add_student(&self, request: Request<AddStudentRequest>) -> Result<Response<AddStudentResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let record = records::add(&self.ctx, &caller, request.into_inner()).await?;
        Ok(Response::new(AddStudentResponse { record: Some(record) }))
    }

    #[tracing::instrument(skip_all)]
    async fn excuse_student(
        &self,
        request: Request<ExcuseStudentRequest>,
    ) -> Result<Response<ExcuseStudentResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let r = request.into_inner();
        let record = records::excuse(&self.ctx, &caller, &r.attendance_id, &r.student_number, &r.reason).await?;
        Ok(Response::new(ExcuseStudentResponse { record: Some(record) }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_record(
        &self,
        request: Request<DeleteRecordRequest>,
    ) -> Result<Response<DeleteRecordResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let r = request.into_inner();
        let record = records::delete(&self.ctx, &caller, &r.attendance_id, &r.student_number, &r.reason).await?;
        Ok(Response::new(DeleteRecordResponse { record: Some(record) }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_attendance(
        &self,
        request: Request<DeleteAttendanceRequest>,
    ) -> Result<Response<DeleteAttendanceResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let r = request.into_inner();
        let attendance = sessions::delete(&self.ctx, &caller, &r.attendance_id, &r.reason).await?;
        Ok(Response::new(DeleteAttendanceResponse { attendance: Some(attendance) }))
    }
}
