//! What the services refuse to start on: no internal token, a Redis that
//! evicts keys. Development mode (`ATTN_DEV_MODE`) lets both through.

use attn_e2e::{SpareRedis, TestEnv};
use attn_runtime::Shutdown;

fn error_of<T>(result: anyhow::Result<T>) -> String {
    match result {
        Ok(_) => panic!("the service started"),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn every_service_refuses_to_start_without_the_internal_token_outside_development_mode() {
    let env = TestEnv::start().await;
    let verification = verification_service::Config {
        verification_addr: "127.0.0.1:0".into(),
        verification_metrics_addr: "127.0.0.1:0".into(),
        internal_token: None,
        ..Default::default()
    };
    let err = error_of(verification_service::App::build(verification.clone()).await);
    assert!(err.contains("ATTN_INTERNAL_TOKEN"), "{err}");
    let short = verification_service::Config { internal_token: Some("secret".into()), ..verification.clone() };
    assert!(error_of(verification_service::App::build(short).await).contains("at least 16"));

    let attendance = attendance_service::Config { internal_token: None, ..env.attendance_config() };
    let err = error_of(attendance_service::App::build(attendance.clone(), Shutdown::new()).await);
    assert!(err.contains("ATTN_INTERNAL_TOKEN"), "{err}");
    let sweeper = sweeper_service::Config { internal_token: None, ..env.sweeper_config() };
    let err = error_of(sweeper_service::App::build(sweeper.clone(), Shutdown::new()).await);
    assert!(err.contains("ATTN_INTERNAL_TOKEN"), "{err}");

    // The local run script's development mode starts without one.
    let mut development = verification;
    development.server.dev_mode = true;
    verification_service::App::build(development).await.expect("development mode starts without a token");
}

#[tokio::test]
async fn a_redis_that_evicts_keys_is_refused_at_start_outside_development_mode() {
    let env = TestEnv::start().await;
    let evicting = SpareRedis::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]).await;

    let mut attendance = env.attendance_config();
    attendance.redis.redis_url = evicting.url.clone().into();
    let err = error_of(attendance_service::App::build(attendance.clone(), Shutdown::new()).await);
    assert!(err.contains("maxmemory-policy allkeys-lru") && err.contains("noeviction"), "{err}");
    let mut sweeper = env.sweeper_config();
    sweeper.redis.redis_url = evicting.url.clone().into();
    let err = error_of(sweeper_service::App::build(sweeper.clone(), Shutdown::new()).await);
    assert!(err.contains("maxmemory-policy allkeys-lru"), "{err}");

    // Development mode warns and runs.
    let shutdown = Shutdown::new();
    attendance.server.dev_mode = true;
    attendance_service::App::build(attendance, shutdown.clone()).await.expect("development mode runs on it");
    sweeper.server.dev_mode = true;
    sweeper_service::App::build(sweeper, shutdown.clone()).await.expect("development mode runs on it");
    shutdown.trigger();

    // The same settings on a Redis that keeps its keys start normally.
    let keeping = SpareRedis::start(&["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"]).await;
    let mut attendance = env.attendance_config();
    attendance.redis.redis_url = keeping.url.clone().into();
    attendance_service::App::build(attendance, Shutdown::new()).await.expect("noeviction is fine");
}
