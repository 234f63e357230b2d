//! HTTPS: browsers open at most six HTTP/1.1 connections per origin, so a
//! seventh tab's stream would hang; over HTTP/2 every tab shares one.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;
use crate::config::settings_table::{TLS_CERT_PATH, TLS_KEY_PATH};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid {}={path:?}: {problem}", TLS_CERT_PATH.name)]
    Certificate { path: String, problem: String },
    #[error("invalid {}={path:?}: {problem}", TLS_KEY_PATH.name)]
    Key { path: String, problem: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A rustls configuration from PEM files; actix adds the `h2` and
/// `http/1.1` ALPN protocols.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let cert_error = |problem: String| TlsError::Certificate {
        path: files.cert_path.display().to_string(),
        problem,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| cert_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_error("no certificate in the file".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_path).map_err(|e| TlsError::Key {
        path: files.key_path.display().to_string(),
        problem: e.to_string(),
    })?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    Ok(config)
}
