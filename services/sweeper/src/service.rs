//! SweeperService: operators see the jobs and run one now.

use std::sync::Arc;

use attn_domain::Invalid;
use attn_proto::v1::{
    Job, JobOutcome, JobRun as PbJobRun, ListJobsRequest, ListJobsResponse, RunJobRequest, RunJobResponse,
    sweeper_service_server::SweeperService,
};
use attn_runtime::{ApiError, Reason};
use tonic::{Request, Response, Status};

use crate::jobs::{JobName, JobRun, Jobs, Outcome};

pub struct Operators {
    pub jobs: Arc<Jobs>,
}

fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

fn run_message(run: &JobRun) -> PbJobRun {
    let summary = &run.summary;
    let outcome = match (run.finished_at, summary.outcome()) {
        (None, _) => JobOutcome::Running,
        (Some(_), Outcome::Succeeded) => JobOutcome::Succeeded,
        (Some(_), Outcome::Partial) => JobOutcome::Partial,
        (Some(_), Outcome::Failed) => JobOutcome::Failed,
    };
    let error = summary.error.clone().unwrap_or_else(|| summary.failures.join("; "));
    PbJobRun {
        started_at: Some(timestamp(run.started_at)),
        finished_at: run.finished_at.map(timestamp),
        outcome: outcome as i32,
        counts: summary.counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        error,
    }
}

#[tonic::async_trait]
impl SweeperService for Operators {
    async fn list_jobs(&self, _request: Request<ListJobsRequest>) -> Result<Response<ListJobsResponse>, Status> {
        let jobs = self
            .jobs
            .list()
            .into_iter()
            .map(|(name, state)| Job {
                name: name.as_str().to_owned(),
                schedule: state.schedule,
                last_run: state.last_run.as_ref().map(run_message),
                runs: state.runs,
            })
            .collect();
        Ok(Response::new(ListJobsResponse { jobs }))
    }

    #[tracing::instrument(skip_all, fields(job = %request.get_ref().name))]
    async fn run_job(&self, request: Request<RunJobRequest>) -> Result<Response<RunJobResponse>, Status> {
        let name = request.into_inner().name;
        let job = JobName::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = JobName::ALL.iter().map(|j| j.as_str()).collect();
            ApiError::from(Invalid::new("name", format!("no job {name:?}; the jobs are {}", known.join(", "))))
        })?;
        let run = self.jobs.run(job).await.map_err(|_| {
            ApiError::new(
                Reason::JobRunning,
                format!("{name} is running right now (here or on another replica); try again when it finishes"),
            )
        })?;
        Ok(Response::new(RunJobResponse { run: Some(run_message(&run)) }))
    }
}
