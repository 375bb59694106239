//! sweeper-service: ATTN's scheduled jobs.
//!
//! - `sweep_attendances` moves ended sessions from Redis into PostgreSQL;
//! - `sweep_users` archives expired and logged-out sign-ins.
//!
//! Jobs run on cron schedules (tokio-cron-scheduler) and on demand through
//! `SweeperService.RunJob`; replicas share the work through Redis leases.

mod config;
pub mod jobs;
mod service;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use attn_proto::v1::sweeper_service_server::SweeperServiceServer;
use attn_runtime::{
    AuthLayer, Shutdown,
    serve::{ServeOptions, serve, standard_routes},
    settings,
};
use attn_store::{Archive, LiveStore, TokenStore};
use tokio::net::TcpListener;
use tokio_cron_scheduler::{Job, JobScheduler};
use tonic::service::Routes;

pub use config::Config;
pub use jobs::{Deps, JobName, Jobs, SweepSettings};

pub struct App {
    listener: TcpListener,
    config: Config,
    jobs: Arc<Jobs>,
    tokens: TokenStore,
    shutdown: Shutdown,
}

impl App {
    pub async fn build(config: Config, shutdown: Shutdown) -> anyhow::Result<Self> {
        let keys = config.redis.keys()?;
        let live = LiveStore::connect(&config.redis.store_settings(), keys.clone())
            .await
            .context("cannot reach Redis (ATTN_REDIS_URL)")?;
        let archive = Archive::connect_lazy(&config.database.store_settings())?;
        archive.migrate().await.context("cannot prepare PostgreSQL (ATTN_DATABASE_URL)")?;
        let tokens = TokenStore::new(live.pool().clone(), keys);
        let deps = Deps {
            live,
            tokens: tokens.clone(),
            archive,
            settings: SweepSettings {
                grace: Duration::from_secs(config.sweep_grace_secs),
                batch_size: config.sweep_batch_size.max(1),
                concurrency: config.sweep_concurrency.max(1),
                lease: Duration::from_secs(config.job_lease_secs.max(1)),
            },
        };
        let jobs = Jobs::new(
            deps,
            &[
                (JobName::SweepAttendances, config.sweep_attendances_schedule.clone()),
                (JobName::SweepUsers, config.sweep_users_schedule.clone()),
            ],
        );
        let addr = settings::parse_listen_addr("ATTN_SWEEPER_ADDR", &config.sweeper_addr)?;
        let listener =
            TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (ATTN_SWEEPER_ADDR)"))?;
        Ok(Self { listener, config, jobs, tokens, shutdown })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn jobs(&self) -> Arc<Jobs> {
        self.jobs.clone()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let mut scheduler =
            if self.config.scheduler_enabled { Some(schedule(&self.jobs, &self.config).await?) } else { None };
        let routes = Routes::new(SweeperServiceServer::new(service::Operators { jobs: self.jobs.clone() }));
        let (routes, health) = standard_routes(routes)?;
        let options = ServeOptions {
            auth: AuthLayer::new(Some(self.tokens), None, Vec::new()),
            accept_http1: false,
            server: self.config.server.clone(),
        };
        let served = serve(routes, health, self.listener, options, self.shutdown).await;
        if let Some(scheduler) = scheduler.as_mut() {
            let _ = scheduler.shutdown().await;
        }
        served
    }
}

async fn schedule(jobs: &Arc<Jobs>, config: &Config) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    for (job, cron) in [
        (JobName::SweepAttendances, &config.sweep_attendances_schedule),
        (JobName::SweepUsers, &config.sweep_users_schedule),
    ] {
        let jobs = jobs.clone();
        let entry = Job::new_async(cron.as_str(), move |_, _| {
            let jobs = jobs.clone();
            Box::pin(async move {
                if jobs.run(job).await.is_err() {
                    tracing::debug!(job = job.as_str(), "another replica holds the lease; skipping this round");
                }
            })
        })
        .with_context(|| format!("the schedule {cron:?} of {} is not a cron expression with seconds", job.as_str()))?;
        scheduler.add(entry).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}
