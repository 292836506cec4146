//! TLS server settings: rustls with the *ring* provider, TLS 1.2 and 1.3, HTTP/1.1.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::ServerSessionMemoryCache;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::LabError;

/// Sessions kept for resumption (TLS 1.2 session ids and TLS 1.3 tickets).
pub const SESSION_CACHE: usize = 4096;

/// The crypto provider used everywhere in the lab.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn cert_err(path: &Path, message: impl std::fmt::Display) -> LabError {
    LabError::Cert {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Reads a PEM certificate chain.
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, LabError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| cert_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(path, e))?;
    if chain.is_empty() {
        return Err(cert_err(path, "no CERTIFICATE block in the file"));
    }
    Ok(chain)
}

/// The server configuration of one node.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, LabError> {
    let chain = load_chain(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| cert_err(key, e))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| cert_err(cert, e))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            cert_err(
                cert,
                format!(
                    "{e} (does the key {} match the certificate?)",
                    key.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    // An agent opens one connection per probe, one at a time: one ticket per
    // handshake keeps it resuming, and a second ticket would be wasted work.
    config.send_tls13_tickets = 1;
    Ok(Arc::new(config))
}

/// `n` random bytes from the provider's secure random source, as lowercase hex.
pub fn random_hex(n: usize) -> Result<String, LabError> {
    let mut buf = vec![0u8; n];
    provider()
        .secure_random
        .fill(&mut buf)
        .map_err(|_| LabError::Config("the system random source failed".into()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
