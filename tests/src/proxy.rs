//! A loopback TCP forwarder a test can cut, to play a dependency going down.
//!
//! Point a service at [`Proxy::addr`] instead of the real server. Then:
//! - [`Proxy::cut`] closes every forwarded connection and turns new ones
//!   away at once (accepted and closed: a dead server);
//! - [`Proxy::stall`] keeps every connection open but lets no byte through,
//!   and holds new ones unanswered (a black-holed network, the outage that
//!   turns missing timeouts into hangs);
//! - [`Proxy::restore`] closes what a stall held and lets new connections
//!   through again.
//!
//! The listener stays bound throughout, so no other test can take its port.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    Cut,
    Stalled,
}

pub struct Proxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub async fn start(target: impl Into<String>) -> Self {
        let target = target.into();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let mode = Arc::new(watch::Sender::new(Mode::Open));
        let accept = tokio::spawn(accept_loop(listener, target, mode.clone()));
        Self { addr, mode, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` with its host and port replaced by this proxy's.
    pub fn reroute(&self, url: &str) -> String {
        let (before, _, after) = split_authority(url);
        format!("{before}{}{after}", self.addr)
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Lets nothing through, closing nothing: every connection hangs.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stalled);
    }

    /// Lets new connections through again (those a stall held are closed:
    /// bytes may have been lost in them).
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.mode.send_replace(Mode::Cut);
    }
}

async fn accept_loop(listener: TcpListener, target: String, mode: Arc<watch::Sender<Mode>>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        match *mode.borrow() {
            Mode::Cut => continue,
            Mode::Stalled => {
                tokio::spawn(hold(inbound, mode.subscribe()));
                continue;
            }
            Mode::Open => {}
        }
        tokio::spawn(forward(inbound, target.clone(), mode.subscribe()));
    }
}

async fn forward(mut inbound: TcpStream, target: String, mut mode: watch::Receiver<Mode>) {
    let Ok(mut outbound) = TcpStream::connect(&target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
        _ = mode.wait_for(|mode| *mode != Mode::Open) => {}
    }
    let stalled = *mode.borrow() == Mode::Stalled;
    if stalled {
        let _ = mode.wait_for(|mode| *mode != Mode::Stalled).await;
    }
    // Dropping both ends closes the connection on both sides.
}

/// Keeps a connection open, unanswered, until the stall ends.
async fn hold(inbound: TcpStream, mut mode: watch::Receiver<Mode>) {
    let _ = mode.wait_for(|mode| *mode != Mode::Stalled).await;
    drop(inbound);
}

/// Splits `scheme://user@host:port/path` into
/// (`scheme://user@`, `host:port`, `/path`).
fn split_authority(url: &str) -> (&str, &str, &str) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    (&url[..host_start], &url[host_start..end], &url[end..])
}

/// The `host:port` a URL points at, e.g. for a [`Proxy`] to forward to.
pub fn server_of(url: &str) -> String {
    let server = split_authority(url).1;
    let has_port = server.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if has_port {
        return server.to_owned();
    }
    let port = match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("redis" | "rediss") => 6379,
        Some("postgres" | "postgresql") => 5432,
        Some("https") => 443,
        _ => 80,
    };
    format!("{server}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_around_host_and_port() {
        assert_eq!(
            split_authority("postgres://postgres@127.0.0.1:5432/attn_test"),
            ("postgres://postgres@", "127.0.0.1:5432", "/attn_test")
        );
        assert_eq!(split_authority("redis://127.0.0.1:6379"), ("redis://", "127.0.0.1:6379", ""));
        assert_eq!(server_of("http://127.0.0.1:50052?x=1"), "127.0.0.1:50052");
        assert_eq!(server_of("postgres://u:pw@db.campus/attn"), "db.campus:5432");
        assert_eq!(server_of("redis://[::1]"), "[::1]:6379");
    }
}
