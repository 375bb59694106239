use attn_runtime::{Shutdown, settings};
use verification_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = settings::load()?;
    let _telemetry = attn_telemetry::init("verification-service", config.log_format)?;
    let app = App::build(config).await?;
    tracing::info!(address = %app.local_addr(), "verification-service listening");
    app.run(Shutdown::on_signals()).await
}
