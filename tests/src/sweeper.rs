//! sweeper-service replicas for a test, on the test's database and prefix.

use std::{net::SocketAddr, sync::Arc};

use attn_runtime::Shutdown;
use sweeper_service::Jobs;

use crate::TestEnv;

/// A running sweeper-service replica. Its scheduler is off unless a test
/// turns it on (`scheduler_enabled`): tests run rounds themselves, through
/// [`Jobs::run`] or `SweeperService.RunJob`.
pub struct SweeperReplica {
    pub addr: SocketAddr,
    /// Where this replica serves `/metrics`.
    pub metrics_addr: SocketAddr,
    pub jobs: Arc<Jobs>,
    pub shutdown: Shutdown,
}

impl SweeperReplica {
    pub async fn channel(&self) -> tonic::transport::Channel {
        crate::env::connect(self.addr).await
    }

    /// A lease of this replica's own, on a key no other round uses: rounds
    /// run with it overlap by force, as they would after a lease was lost.
    pub async fn own_lease(&self, ttl: std::time::Duration) -> attn_store::lease::Lease {
        self.own_lease_and_key(ttl).await.0
    }

    /// As [`Self::own_lease`], with the lease's Redis key.
    pub async fn own_lease_and_key(&self, ttl: std::time::Duration) -> (attn_store::lease::Lease, String) {
        let deps = &self.jobs.deps;
        let key = deps.live.keys().job_lease(&format!("forced-{}", uuid::Uuid::new_v4()));
        let lease =
            attn_store::lease::Lease::try_acquire(deps.live.pool(), key.clone(), format!("test-{}", self.addr), ttl)
                .await
                .expect("Redis answers")
                .expect("a fresh key is free");
        (lease, key)
    }

    /// One `sweep_attendances` round outside the scheduler, under [`Self::own_lease`].
    pub async fn sweep_attendances(&self) -> sweeper_service::Summary {
        let lease = self.own_lease(std::time::Duration::from_secs(60)).await;
        sweeper_service::jobs::sweep_attendances(&self.jobs.deps, &lease.guard()).await
    }
}

impl TestEnv {
    pub async fn start_sweeper(&self) -> SweeperReplica {
        self.start_sweeper_with(|_| {}).await
    }

    /// A replica's settings on this test's database and prefix.
    pub fn sweeper_config(&self) -> sweeper_service::Config {
        let mut config = sweeper_service::Config {
            sweeper_addr: "127.0.0.1:0".into(),
            sweeper_metrics_addr: "127.0.0.1:0".into(),
            scheduler_enabled: false,
            sweep_grace_secs: 5,
            ..Default::default()
        };
        config.redis.redis_url = self.redis_settings().url;
        config.redis.redis_key_prefix = self.key_prefix.clone();
        config.redis.redis_pool_size = 2;
        crate::env::use_database(&mut config.database, &self.database_name);
        config.database.database_max_connections = 4;
        // As attendance-service's in the tests: past any stall.
        config.database.database_timeout_ms = 30_000;
        config.verification_url = format!("http://{}", self.verification_addr);
        config.internal_token = Some(crate::env::TEST_INTERNAL_TOKEN.into());
        config.server.shutdown_grace_ms = 2_000;
        config
    }

    /// Starts a replica (call twice for two) after `adjust` has changed its settings.
    pub async fn start_sweeper_with(&self, adjust: impl FnOnce(&mut sweeper_service::Config)) -> SweeperReplica {
        crate::servers::check();
        let mut config = self.sweeper_config();
        adjust(&mut config);
        // Stops with the test environment, or earlier through its own handle.
        let shutdown = Shutdown::new();
        let env_shutdown = self.shutdown();
        let own = shutdown.clone();
        tokio::spawn(async move {
            env_shutdown.triggered().await;
            own.trigger();
        });
        let app = sweeper_service::App::build_with_clock(config, shutdown.clone(), self.clock.clone())
            .await
            .unwrap_or_else(|err| panic!("sweeper-service did not start: {err:#}"));
        let replica = SweeperReplica {
            addr: app.local_addr(),
            metrics_addr: app.metrics_addr().expect("the tests serve /metrics"),
            jobs: app.jobs(),
            shutdown,
        };
        crate::servers::spawn_watched(
            format!("sweeper-service at {}", replica.addr),
            replica.shutdown.clone(),
            app.run(),
        );
        replica
    }
}
