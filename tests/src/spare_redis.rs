//! A Redis of a test's own, for settings the shared one must not get (an
//! eviction policy, say): `redis-server` on a free loopback port, stopped
//! when dropped.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct SpareRedis {
    child: Child,
    pub url: String,
}

impl SpareRedis {
    /// Starts `redis-server` with `args` added to a throwaway configuration
    /// (no persistence, loopback only), and waits until it answers.
    pub async fn start(args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("this test starts its own Redis, and redis-server could not be run ({err}); install it (apt-get install redis-server)")
            });
        let url = format!("redis://127.0.0.1:{port}");
        let redis = Self { child, url };
        let settings = attn_store::redis::RedisSettings {
            url: redis.url.clone().into(),
            pool_size: 1,
            command_timeout: Duration::from_millis(500),
        };
        crate::eventually(Duration::from_secs(10), "the spare redis-server to answer", || {
            let settings = settings.clone();
            async move { attn_store::redis::connect_pool(&settings).await.ok() }
        })
        .await;
        redis
    }
}

impl Drop for SpareRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
