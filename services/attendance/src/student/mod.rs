//! StudentService. The auth layer has already checked the caller is a student.

mod attend;
mod courses;
mod face;
mod history;
mod my_record;

use std::sync::Arc;

use attn_proto::v1::{
    AttendRequest, AttendResponse, FindActiveAttendancesRequest, FindActiveAttendancesResponse,
    GetMyCourseSummaryRequest, GetMyCourseSummaryResponse, GetMyRecordRequest, GetMyRecordResponse,
    ListMyAttendanceRequest, ListMyAttendanceResponse, WatchMyRecordRequest, WatchMyRecordResponse,
    student_service_server::StudentService,
};
use attn_runtime::{Caller, ClientAddress};
use tonic::{Request, Response, Status};

use crate::{context::Context, streams::BoxStream};

pub struct Student {
    pub ctx: Arc<Context>,
}

#[tonic::async_trait]
impl StudentService for Student {
    async fn find_active_attendances(
        &self,
        request: Request<FindActiveAttendancesRequest>,
    ) -> Result<Response<FindActiveAttendancesResponse>, Status> {
        Ok(Response::new(history::find_active(&self.ctx, request.into_inner())?))
    }

    #[tracing::instrument(skip_all)]
    async fn attend(&self, request: Request<AttendRequest>) -> Result<Response<AttendResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let address = ClientAddress::of(&request);
        let record = attend::attend(&self.ctx, &caller, address, request.into_inner()).await?;
        Ok(Response::new(AttendResponse { record: Some(record) }))
    }

    async fn get_my_record(
        &self,
        request: Request<GetMyRecordRequest>,
    ) -> Result<Response<GetMyRecordResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        let record = history::my_record(&self.ctx, &caller, &request.into_inner().attendance_id).await?;
        Ok(Response::new(GetMyRecordResponse { record: Some(record) }))
    }

    type WatchMyRecordStream = BoxStream<WatchMyRecordResponse>;

    #[tracing::instrument(skip_all)]
    async fn watch_my_record(
        &self,
        request: Request<WatchMyRecordRequest>,
    ) -> Result<Response<Self::WatchMyRecordStream>, Status> {
        let caller = Caller::of(&request)?.clone();
        let stream = my_record::watch(&self.ctx, &caller, &request.into_inner().attendance_id).await?;
        Ok(Response::new(stream))
    }

    async fn get_my_course_summary(
        &self,
        request: Request<GetMyCourseSummaryRequest>,
    ) -> Result<Response<GetMyCourseSummaryResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(courses::summary(&self.ctx, &caller).await?))
    }

    async fn list_my_attendance(
        &self,
        request: Request<ListMyAttendanceRequest>,
    ) -> Result<Response<ListMyAttendanceResponse>, Status> {
        let caller = Caller::of(&request)?.clone();
        Ok(Response::new(history::list_mine(&self.ctx, &caller, request.into_inner()).await?))
    }
}
