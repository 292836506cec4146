//! TLS settings: rustls with the *ring* provider, TLS 1.2 and 1.3, HTTP/1.1.
//! Servers (the PSN nodes, mdm-lab) and clients (the MDM client, the
//! benchmark, the tests) are all configured here.

use std::path::Path;
use std::sync::Arc;

use rustls::server::ServerSessionMemoryCache;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::common::error::LabError;

/// Sessions kept for resumption (TLS 1.2 session ids and TLS 1.3 tickets).
pub const SESSION_CACHE: usize = 4096;

/// The TLS versions the lab speaks, newest first.
pub const VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

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
        .with_protocol_versions(VERSIONS)
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

/// The CA certificates of the PEM file `path`, as the roots a client trusts.
pub fn load_roots(path: &Path) -> Result<RootCertStore, LabError> {
    let mut roots = RootCertStore::empty();
    for cert in load_chain(path)? {
        roots.add(cert).map_err(|e| cert_err(path, e))?;
    }
    Ok(roots)
}

/// A client configuration trusting `roots` only, speaking `versions` (a
/// subset of [`VERSIONS`]) and offering HTTP/1.1 by ALPN. Returned unshared
/// so that a caller can still adjust it (resumption, for the benchmark).
pub fn client_config_with(
    roots: RootCertStore,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConfig, LabError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| LabError::Config(format!("TLS client settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration trusting the CA certificates of the PEM file
/// `ca`, speaking every version of [`VERSIONS`].
pub fn client_config(ca: &Path) -> Result<ClientConfig, LabError> {
    client_config_with(load_roots(ca)?, VERSIONS)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_trusts_no_ca_file_without_a_certificate_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(&empty).unwrap_err().to_string();
        assert!(err.contains(&empty.display().to_string()), "{err}");
        assert!(err.contains("no CERTIFICATE block"), "{err}");
    }

    #[test]
    fn client_configs_offer_http_1_1() {
        let config = client_config_with(RootCertStore::empty(), VERSIONS).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
