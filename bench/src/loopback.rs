//! Every address the harness talks to must be on this machine: load goes to
//! the loopback range only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Context;

/// `http://127.0.0.1:8080` (a trailing `/` allowed) → its socket address.
pub fn target(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: targets are plain http:// URLs"))?;
    let authority = rest.trim_end_matches('/');
    anyhow::ensure!(
        !authority.contains('/'),
        "{url}: give the server's root, not a path"
    );
    let (host, port) = authority
        .rsplit_once(':')
        .with_context(|| format!("{url}: give a port"))?;
    let ip = match host {
        "localhost" => Ipv4Addr::LOCALHOST,
        _ => host
            .parse::<Ipv4Addr>()
            .with_context(|| format!("{url}: the host must be an IPv4 address"))?,
    };
    anyhow::ensure!(
        ip.is_loopback(),
        "{url}: only loopback targets (127.0.0.0/8) are allowed"
    );
    Ok(SocketAddr::new(
        IpAddr::V4(ip),
        port.parse().with_context(|| format!("{url}: bad port"))?,
    ))
}

/// Refuses a database URL whose host is not this machine.
pub fn database_url(url: &str) -> anyhow::Result<()> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let local = host.is_empty()
        || host == "localhost"
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        local,
        "the database must be on this machine (loopback), not {host}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_only() {
        assert!(target("http://127.0.0.1:8080").is_ok());
        assert!(target("http://127.0.0.3:9/").is_ok());
        assert!(target("http://localhost:8080").is_ok());
        assert!(target("http://10.0.0.1:8080").is_err());
        assert!(target("https://127.0.0.1:8080").is_err());
        assert!(target("http://127.0.0.1").is_err());
        assert!(database_url("postgres://postgres@127.0.0.1:5432/test").is_ok());
        assert!(database_url("postgres://u:p@localhost/test?sslmode=disable").is_ok());
        assert!(database_url("postgres://u@[::1]:5432/x").is_ok());
        assert!(database_url("postgres://u@db.example.com/x").is_err());
    }
}
