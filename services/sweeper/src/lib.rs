//! sweeper-service: ATTN's scheduled jobs.
//!
//! - `sweep_attendances` moves ended sessions from Redis into PostgreSQL;
//! - `sweep_users` archives expired and logged-out sign-ins;
//! - `check_face_verification_results` finishes pending face checks, on its
//!   schedule and, between runs, on a fast path every 100 ms.
//!
//! Jobs run on cron schedules (tokio-cron-scheduler) and on demand through
//! `SweeperService.RunJob`; replicas share the work through Redis leases.

mod config;
pub mod jobs;
mod measures;
mod service;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use attn_domain::client_address::TrustedProxies;
use attn_proto::v1::sweeper_service_server::SweeperServiceServer;
use attn_runtime::{
    AuthLayer, Shutdown,
    internal::measured_verification_client,
    metrics_server::{self, MetricsListener},
    serve::{BrowserAccess, ServeOptions, serve, standard_routes},
    settings,
};
use attn_store::{Archive, LiveStore, TokenStore, face_queue::FaceQueue, pool_metrics, preflight};
use tokio::net::TcpListener;
use tokio_cron_scheduler::{Job, JobScheduler};
use tonic::service::Routes;

pub use config::Config;
pub use jobs::{Deps, JobName, Jobs, Summary, SweepSettings};

pub struct App {
    listener: TcpListener,
    /// `None` when metrics are off.
    metrics_listener: Option<MetricsListener>,
    metrics: attn_telemetry::Metrics,
    config: Config,
    jobs: Arc<Jobs>,
    tokens: TokenStore,
    shutdown: Shutdown,
}

impl App {
    pub async fn build(config: Config, shutdown: Shutdown) -> anyhow::Result<Self> {
        Self::build_with_clock(config, shutdown, attn_domain::Clock::system()).await
    }

    /// As [`App::build`], with jobs deciding what is due by `clock` (tests
    /// move an adjustable one forward instead of waiting).
    pub async fn build_with_clock(
        config: Config,
        shutdown: Shutdown,
        clock: attn_domain::Clock,
    ) -> anyhow::Result<Self> {
        let internal_token = config.server.internal_token(config.internal_token.as_ref())?;
        let keys = config.redis.keys()?;
        let live = LiveStore::connect(&config.redis.store_settings(), keys.clone())
            .await
            .context("cannot reach Redis (ATTN_REDIS_URL)")?;
        preflight::check_redis(&live, &config.server).await.context("ATTN_REDIS_URL")?;
        // An upgrade from the unsharded indexes: move what they list, so
        // nothing live then is stranded.
        live.adopt_legacy_indexes(chrono::Utc::now().timestamp_millis())
            .await
            .context("cannot move the old Redis indexes into the sharded ones (ATTN_REDIS_URL)")?;
        let archive = Archive::connect_lazy(&config.database.store_settings())?;
        preflight::prepare_postgres(&archive).await?;
        let tokens = TokenStore::new(live.pool().clone(), keys.clone());
        let metrics = metrics_server::registry_for(&config.sweeper_metrics_addr);
        let verification = measured_verification_client(
            &config.verification_url,
            internal_token.as_ref(),
            Duration::from_millis(config.verification_timeout_ms),
            &metrics,
        )?;
        let face_queue = FaceQueue::new(live.pool().clone(), keys);
        measures::register(&metrics, live.clone(), face_queue.clone());
        pool_metrics::register(&metrics, archive.clone(), live.clone(), config.database.database_max_connections);
        let deps = Deps {
            clock,
            face_queue,
            live,
            tokens: tokens.clone(),
            archive,
            verification,
            settings: SweepSettings {
                grace: Duration::from_secs(config.sweep_grace_secs),
                face_max_errors: config.face_max_errors.max(1),
                face_max_age: Duration::from_secs(config.face_max_age_secs.max(1)),
                batch_size: config.sweep_batch_size.max(1),
                concurrency: config.sweep_concurrency.max(1),
                lease: Duration::from_secs(config.job_lease_secs.max(1)),
            },
        };
        let jobs = Jobs::measured(deps, &schedules(&config), metrics.clone());
        let addr = settings::parse_listen_addr("ATTN_SWEEPER_ADDR", &config.sweeper_addr)?;
        let listener =
            TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (ATTN_SWEEPER_ADDR)"))?;
        let metrics_listener = MetricsListener::bind("ATTN_SWEEPER_METRICS_ADDR", &config.sweeper_metrics_addr).await?;
        Ok(Self { listener, metrics_listener, metrics, config, jobs, tokens, shutdown })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics` is served (ATTN_SWEEPER_METRICS_ADDR); `None` when it is `off`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(MetricsListener::local_addr)
    }

    pub fn jobs(&self) -> Arc<Jobs> {
        self.jobs.clone()
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let mut scheduler =
            if self.config.scheduler_enabled { Some(schedule(&self.jobs, &self.config).await?) } else { None };
        if self.config.face_poll_interval_ms > 0 {
            tokio::spawn(face_fast_path(
                self.jobs.clone(),
                Duration::from_millis(self.config.face_poll_interval_ms),
                self.shutdown.clone(),
            ));
        }
        let routes = Routes::new(SweeperServiceServer::new(service::Operators { jobs: self.jobs.clone() }));
        let (routes, health) = standard_routes(routes, &[attn_proto::v1::sweeper_service_server::SERVICE_NAME])?;
        let options = ServeOptions {
            auth: AuthLayer::new(Some(Arc::new(self.tokens)), None, TrustedProxies::none()),
            accept_http1: false,
            server: self.config.server.clone(),
            browsers: BrowserAccess::default(),
            metrics: self.metrics.clone(),
        };
        if let Some(listener) = self.metrics_listener {
            tokio::spawn(listener.serve(self.metrics, self.shutdown.clone()));
        }
        let served = serve(routes, health, self.listener, options, self.shutdown).await;
        if let Some(scheduler) = scheduler.as_mut() {
            let _ = scheduler.shutdown().await;
        }
        served
    }
}

/// Every job's cron schedule: what the scheduler runs and what ListJobs shows.
fn schedules(config: &Config) -> [(JobName, String); 3] {
    [
        (JobName::SweepAttendances, config.sweep_attendances_schedule.clone()),
        (JobName::SweepUsers, config.sweep_users_schedule.clone()),
        (JobName::CheckFaceVerificationResults, config.check_face_results_schedule.clone()),
    ]
}

async fn schedule(jobs: &Arc<Jobs>, config: &Config) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    for (job, cron) in schedules(config) {
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

/// Between scheduled runs, looks at due face jobs every `interval`, so a
/// verdict reaches the student within about that long of the gateway having
/// it. The lease keeps replicas from asking the gateway twice.
async fn face_fast_path(jobs: Arc<Jobs>, interval: Duration, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.triggered() => return,
        }
        let _ = jobs.run_quietly(JobName::CheckFaceVerificationResults).await;
    }
}
