//! attendance-service: ATTN's public API.
//!
//! Sign-in, the teacher's and the student's RPCs, live state in Redis and
//! history in PostgreSQL. `main.rs` only loads settings and calls [`App`].

mod auth_service;
mod config;
mod context;
mod convert;
mod demo;
mod limits;
mod measures;
mod open_sessions;
mod passwords;
mod roster_import;
mod streams;
mod student;
mod teacher;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use attn_proto::v1::{
    auth_service_server::{self, AuthServiceServer},
    student_service_server::{self, StudentServiceServer},
    teacher_service_server::{self, TeacherServiceServer},
};
use attn_runtime::{
    AuthLayer, Shutdown,
    internal::measured_verification_client,
    metrics_server::{self, MetricsListener},
    serve::{BrowserAccess, ServeOptions, serve, standard_routes},
    settings,
};
use attn_store::{
    Archive, LiveStore, SignInCache, TokenStore, events::EventHub, preflight, revocations::RevocationFeed,
};
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use config::Config;
pub use demo::{DEMO_PASSWORD, ensure_demo_accounts};
pub use passwords::{CheckStats, Passwords};
pub use roster_import::{ImportSummary, import_roster};

use crate::context::{Context, TokenTtl};

/// Check-ins up to this size (or four times the selfie limit) are read, so
/// that an oversized selfie is refused by name rather than by the transport.
const SELFIE_READ_FLOOR: usize = 8 * 1024 * 1024;

/// Distinct sessions whose check-in settings each replica keeps in memory.
const CHECK_IN_SETTINGS_CACHED: usize = 10_000;

/// A bound, connected attendance-service, ready to run.
pub struct App {
    listener: TcpListener,
    /// `None` when metrics are off.
    metrics_listener: Option<MetricsListener>,
    config: Config,
    ctx: Arc<Context>,
    shutdown: Shutdown,
}

impl App {
    /// Connects to Redis and PostgreSQL (failing fast if either is down),
    /// brings the schema up to date, creates demo accounts if asked, and
    /// binds the port (0 picks a free one; see [`App::local_addr`]).
    pub async fn build(config: Config, shutdown: Shutdown) -> anyhow::Result<Self> {
        Self::build_with_clock(config, shutdown, attn_domain::Clock::system()).await
    }

    /// As [`App::build`], deciding every rule by `clock` (tests move an
    /// adjustable one forward instead of waiting).
    pub async fn build_with_clock(
        config: Config,
        shutdown: Shutdown,
        clock: attn_domain::Clock,
    ) -> anyhow::Result<Self> {
        let internal_token = config.server.internal_token(config.internal_token.as_ref())?;
        let public_url = config.public_url()?.map(Arc::from);
        let warning_percent = config.warning_percent()?;
        let keys = config.redis.keys()?;
        let redis = config.redis.store_settings();
        let live = LiveStore::connect(&redis, keys.clone()).await.context("cannot reach Redis (ATTN_REDIS_URL)")?;
        preflight::check_redis(&live, &config.server).await.context("ATTN_REDIS_URL")?;
        let hub =
            EventHub::connect(&redis, keys.clone()).await.context("cannot subscribe to Redis (ATTN_REDIS_URL)")?;
        let revocations =
            RevocationFeed::follow(&redis, &keys).await.context("cannot subscribe to Redis (ATTN_REDIS_URL)")?;
        let open_refresh = Duration::from_millis(config.open_sessions_refresh_ms.max(10));
        let open_sessions = open_sessions::OpenSessions::load(&live, open_refresh)
            .await
            .context("cannot read the open sessions from Redis (ATTN_REDIS_URL)")?;
        open_sessions.spawn_refresh(live.clone(), open_refresh, shutdown.clone());
        let mut tokens = TokenStore::new(live.pool().clone(), keys.clone());
        let mut sign_in_cache = None;
        if config.token_cache_ms > 0 {
            let cache = SignInCache::new(config.token_cache_ms);
            cache.follow(revocations.clone());
            sign_in_cache = Some(cache.clone());
            tokens = tokens.with_cache(cache);
        }
        let metrics = metrics_server::registry_for(&config.attendance_metrics_addr);
        let archive = Archive::connect_lazy(&config.database.store_settings())?;
        preflight::prepare_postgres(&archive).await?;
        let passwords = passwords::Passwords::start(
            config.password_threads.unwrap_or_else(passwords::default_threads),
            config.password_check_queue,
        );
        if config.demo_accounts {
            let written = ensure_demo_accounts(&archive, &passwords, &config.demo_photo_base_url).await?;
            tracing::warn!(written, "demo accounts enabled (ATTN_DEMO_ACCOUNTS); never do this in production");
        }
        let verification = measured_verification_client(
            &config.verification_url,
            internal_token.as_ref(),
            Duration::from_millis(config.verification_timeout_ms),
            &metrics,
        )?;
        measures::register(
            &metrics,
            open_sessions.clone(),
            sign_in_cache,
            archive.clone(),
            live.clone(),
            config.database.database_max_connections,
        );
        let decoy_hash = passwords.hash("decoy password for unknown users".into()).await?.into();
        let limits = limits::RateLimits::new(
            attn_store::rate_limits::RateLimits::new(live.pool().clone(), keys.clone()),
            config.login_attempts_per_minute,
            config.attend_attempts_per_minute,
        )
        .measured(metrics.clone());
        limits.spawn_cleanup(shutdown.clone());
        let ctx = Arc::new(Context {
            tokens,
            face_queue: attn_store::face_queue::FaceQueue::new(live.pool().clone(), keys),
            live,
            archive,
            hub,
            open_sessions,
            verification,
            limits,
            passwords,
            revocations,
            streams: streams::StreamSlots::new(config.streams_per_user),
            check_in_settings: quick_cache::sync::Cache::new(CHECK_IN_SETTINGS_CACHED),
            token_ttl: TokenTtl {
                teacher: Duration::from_secs(config.teacher_token_ttl_secs),
                student: Duration::from_secs(config.student_token_ttl_secs),
                admin: Duration::from_secs(config.admin_token_ttl_secs),
            },
            selfie_max_bytes: config.selfie_max_bytes,
            public_url,
            warning_percent,
            shutdown: shutdown.clone(),
            decoy_hash,
            metrics,
            clock,
        });
        let addr = settings::parse_listen_addr("ATTN_ATTENDANCE_ADDR", &config.attendance_addr)?;
        let listener =
            TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (ATTN_ATTENDANCE_ADDR)"))?;
        let metrics_listener =
            MetricsListener::bind("ATTN_ATTENDANCE_METRICS_ADDR", &config.attendance_metrics_addr).await?;
        Ok(Self { listener, metrics_listener, config, ctx, shutdown })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics` is served (ATTN_ATTENDANCE_METRICS_ADDR); `None` when it is `off`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(MetricsListener::local_addr)
    }

    /// What the sign-in password checks have done (for operators and tests).
    pub fn password_check_stats(&self) -> Arc<passwords::CheckStats> {
        self.ctx.passwords.stats()
    }

    /// Roster streams open right now (for operators and tests).
    pub fn open_streams(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let hub = self.ctx.hub.clone();
        move || hub.open_watchers()
    }

    /// Serves until the shutdown given to [`App::build`] trips.
    pub async fn run(self) -> anyhow::Result<()> {
        // Room for a selfie well over the limit plus the rest of the message,
        // so that an oversized phone photo reaches `check_selfie` and gets
        // INVALID_ARGUMENT naming the field, instead of the transport's bare
        // OUT_OF_RANGE. Only messages past this cap are cut off unread.
        let max_message =
            self.config.selfie_max_bytes.saturating_mul(4).max(SELFIE_READ_FLOOR).saturating_add(64 * 1024);
        let routes = Routes::new(AuthServiceServer::new(auth_service::Auth { ctx: self.ctx.clone() }))
            .add_service(TeacherServiceServer::new(teacher::Teacher { ctx: self.ctx.clone() }))
            .add_service(
                StudentServiceServer::new(student::Student { ctx: self.ctx.clone() })
                    .max_decoding_message_size(max_message),
            );
        let (routes, health) = standard_routes(
            routes,
            &[
                auth_service_server::SERVICE_NAME,
                teacher_service_server::SERVICE_NAME,
                student_service_server::SERVICE_NAME,
            ],
        )?;
        let browsers =
            BrowserAccess { cors_origins: Some(self.config.cors_origins()?), web_dir: self.config.web_dir()? };
        match &browsers.web_dir {
            Some(dir) => tracing::info!(web_dir = %dir.display(), "serving the browser app"),
            None => tracing::info!("no browser app to serve (ATTN_WEB_DIR)"),
        }
        let options = ServeOptions {
            auth: AuthLayer::new(Some(Arc::new(self.ctx.tokens.clone())), None, self.config.trusted_proxies()?),
            accept_http1: true,
            server: self.config.server.clone(),
            browsers,
            metrics: self.ctx.metrics.clone(),
        };
        if let Some(listener) = self.metrics_listener {
            tokio::spawn(listener.serve(self.ctx.metrics.clone(), self.shutdown.clone()));
        }
        serve(routes, health, self.listener, options, self.shutdown).await
    }
}
