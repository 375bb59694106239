use attn_runtime::{Shutdown, settings};
use sweeper_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = settings::load()?;
    let _telemetry = attn_telemetry::init("sweeper-service", config.log_format)?;
    let app = App::build(config, Shutdown::on_signals()).await?;
    tracing::info!(address = %app.local_addr(), "sweeper-service listening");
    app.run().await
}
