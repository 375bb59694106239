//! The baseline: a bare tonic service with one unary RPC and no I/O.
//!
//! It runs as its own process (`attn-bench echo-server`), built with the same
//! tonic, runtime and TCP settings as the ATTN services but with none of
//! their middleware or stores, so the ratio ATTN/echo measured side by side
//! is what ATTN costs on top of gRPC itself on this machine.

use std::{net::SocketAddr, path::Path, process::Stdio, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::Command,
};
use tonic::{
    Request, Response, Status,
    transport::{Server, server::TcpIncoming},
};

use crate::procs::Proc;

pub mod pb {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("attn.bench.v1");
}

use pb::{
    EchoRequest, EchoResponse,
    echo_service_server::{EchoService, EchoServiceServer},
};

struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(EchoResponse { attendance_id: request.attendance_id, request_id: request.request_id }))
    }
}

/// `attn-bench echo-server`: binds, prints the bound address on stdout (the
/// parent's readiness signal), then serves until killed.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    println!("{}", listener.local_addr()?);
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        .add_service(health)
        .add_service(EchoServiceServer::new(Echo))
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await
        .context("the echo server stopped")
}

/// Starts this same binary as `echo-server` and returns it with its URL.
pub async fn start(log_dir: &Path) -> anyhow::Result<(Proc, String)> {
    let program = std::env::current_exe().context("cannot find the attn-bench binary")?;
    let log = log_dir.join("echo-server.log");
    let mut child = Command::new(program)
        .args(["echo-server", "--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the echo server")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut first_line = String::new();
    tokio::time::timeout(Duration::from_secs(10), BufReader::new(stdout).read_line(&mut first_line))
        .await
        .context("the echo server did not report its address within 10 s")??;
    let addr: SocketAddr = first_line
        .trim()
        .parse()
        .with_context(|| format!("the echo server printed {first_line:?}, not an address; see {}", log.display()))?;
    let mut proc = Proc::adopt("echo-server", child, log)?;
    let url = format!("http://{addr}");
    crate::clients::wait_until_serving(&url, Duration::from_secs(10), || proc.check_alive()).await?;
    Ok((proc, url))
}
