//! The lab CA and node certificates (rcgen), so a newcomer needs no openssl steps.
//!
//! Layout of a lab directory:
//!
//! | file | what |
//! |---|---|
//! | `ca.pem` | lab CA certificate: give it to the agent as its trust anchor |
//! | `ca-key.pem` | lab CA key (mode 0600), kept so that more node certificates can be issued later |
//! | `ca.json` | the CA's subject name, needed to issue more certificates from `ca-key.pem` |
//! | `NAME.pem`, `NAME-key.pem` | a node's certificate and key (mode 0600) |
//!
//! A node certificate names `NAME`, `NAME.lab.test`, `localhost`, `127.0.0.1` and
//! `::1` plus any extra names; `san_only` replaces that list (to make a certificate
//! whose names do not match the host the agent connects to).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serde::{Deserialize, Serialize};

use crate::common::error::LabError;
use crate::common::fsutil;

/// Key algorithm of new keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyKind {
    /// ECDSA P-256 with SHA-256: the lab default.
    #[default]
    EcdsaP256,
    /// RSA 2048 with SHA-256 (for comparisons with RSA deployments).
    Rsa2048,
}

/// What `psn-lab certs` (and `serve`, for missing files) should create.
#[derive(Debug, Clone, Default)]
pub struct CertRequest {
    /// The lab directory.
    pub dir: PathBuf,
    /// Node names to issue certificates for.
    pub nodes: Vec<String>,
    /// Extra subject alternative names for every node certificate.
    pub extra_sans: Vec<String>,
    /// Replace the default names with exactly these (a deliberately mismatching certificate).
    pub san_only: Vec<String>,
    /// Key algorithm of new keys.
    pub key_kind: KeyKind,
    /// Re-issue node certificates that already exist.
    pub force: bool,
}

/// Paths of one node's certificate and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCertPaths {
    /// PEM certificate.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct CaInfo {
    subject_cn: String,
}

/// The lab CA, loaded or created.
#[derive(Debug)]
pub struct LabCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    created: bool,
}

/// Path of the CA certificate in a lab directory.
pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

/// Paths of a node's certificate and key in a lab directory.
pub fn node_paths(dir: &Path, name: &str) -> NodeCertPaths {
    NodeCertPaths {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}-key.pem")),
    }
}

/// The default names of a node certificate.
pub fn default_sans(name: &str) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{name}.lab.test"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ]
}

fn cert_err(path: &Path, message: impl std::fmt::Display) -> LabError {
    LabError::Cert {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn new_key(kind: KeyKind, path_for_errors: &Path) -> Result<KeyPair, LabError> {
    match kind {
        KeyKind::EcdsaP256 => KeyPair::generate().map_err(|e| cert_err(path_for_errors, e)),
        KeyKind::Rsa2048 => rsa_key::generate(path_for_errors),
    }
}

mod rsa_key {
    //! RSA key generation: *ring* (rcgen's backend here) cannot generate RSA keys,
    //! so the `rsa` crate makes the PKCS#8 key and rcgen signs with it.
    use std::path::Path;

    use rcgen::KeyPair;
    use rsa::pkcs8::EncodePrivateKey;

    use crate::common::error::LabError;

    pub(super) fn generate(path: &Path) -> Result<KeyPair, LabError> {
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
            .map_err(|e| super::cert_err(path, format!("cannot generate an RSA key: {e}")))?;
        let pem = key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| super::cert_err(path, format!("cannot encode the RSA key: {e}")))?;
        KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
            .map_err(|e| super::cert_err(path, e))
    }
}

fn ca_params(subject_cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "posture-sync lab");
    dn.push(DnType::CommonName, subject_cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

impl LabCa {
    /// Loads the CA of `dir`, or creates one (with `kind` keys) when `ca.pem` is absent.
    pub fn load_or_create(dir: &Path, kind: KeyKind) -> Result<Self, LabError> {
        fsutil::create_dir(dir, "lab directory")?;
        let cert_path = ca_path(dir);
        let key_path = dir.join("ca-key.pem");
        let info_path = dir.join("ca.json");
        if cert_path.exists() {
            let key_pem = fsutil::read_text(&key_path, "lab CA key")?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| {
                cert_err(
                    &key_path,
                    format!("{e}; help: remove ca.pem to create a new lab CA"),
                )
            })?;
            let info: CaInfo = serde_json::from_str(&fsutil::read_text(&info_path, "lab CA info")?)
                .map_err(|e| cert_err(&info_path, e))?;
            return Ok(LabCa {
                dir: dir.to_owned(),
                issuer: Issuer::new(ca_params(&info.subject_cn), key),
                created: false,
            });
        }
        let subject_cn = format!("posture-sync lab CA {:08x}", fastrand::u32(..));
        let params = ca_params(&subject_cn);
        let key = new_key(kind, &key_path)?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| cert_err(&cert_path, e))?;
        fsutil::write_atomic(
            &key_path,
            key.serialize_pem().as_bytes(),
            "lab CA key",
            true,
        )?;
        let info = serde_json::to_string_pretty(&CaInfo { subject_cn })
            .map_err(|e| cert_err(&info_path, e))?;
        fsutil::write_atomic(&info_path, info.as_bytes(), "lab CA info", false)?;
        // ca.pem last: its presence means the CA is complete.
        fsutil::write_atomic(
            &cert_path,
            cert.pem().as_bytes(),
            "lab CA certificate",
            false,
        )?;
        Ok(LabCa {
            dir: dir.to_owned(),
            issuer: Issuer::new(params, key),
            created: true,
        })
    }

    /// Whether this call created the CA.
    pub fn created(&self) -> bool {
        self.created
    }

    /// Issues a node certificate with the given names and writes `NAME.pem` and `NAME-key.pem`.
    pub fn issue(
        &self,
        name: &str,
        sans: &[String],
        kind: KeyKind,
    ) -> Result<NodeCertPaths, LabError> {
        let paths = node_paths(&self.dir, name);
        let mut params =
            CertificateParams::new(sans.to_vec()).map_err(|e| cert_err(&paths.cert, e))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "posture-sync lab");
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let mut serial = [0u8; 16];
        serial.iter_mut().for_each(|b| *b = fastrand::u8(..));
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let key = new_key(kind, &paths.key)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| cert_err(&paths.cert, e))?;
        fsutil::write_atomic(&paths.key, key.serialize_pem().as_bytes(), "node key", true)?;
        fsutil::write_atomic(
            &paths.cert,
            cert.pem().as_bytes(),
            "node certificate",
            false,
        )?;
        Ok(paths)
    }
}

/// What [`create`] did, for the summary printed by `psn-lab certs`.
#[derive(Debug, Clone, Default)]
pub struct CertOutcome {
    /// The CA certificate path.
    pub ca: PathBuf,
    /// Whether the CA was created now.
    pub ca_created: bool,
    /// Node certificates issued now: name, paths, names in the certificate.
    pub issued: Vec<(String, NodeCertPaths, Vec<String>)>,
    /// Node certificates that existed and were kept.
    pub kept: Vec<(String, NodeCertPaths)>,
}

/// Creates the CA (if absent) and the requested node certificates (if absent, or `force`).
pub fn create(req: &CertRequest) -> Result<CertOutcome, LabError> {
    let ca = LabCa::load_or_create(&req.dir, req.key_kind)?;
    let mut out = CertOutcome {
        ca: ca_path(&req.dir),
        ca_created: ca.created(),
        ..CertOutcome::default()
    };
    for name in &req.nodes {
        let paths = node_paths(&req.dir, name);
        if !req.force && !ca.created() && paths.cert.exists() && paths.key.exists() {
            out.kept.push((name.clone(), paths));
            continue;
        }
        let sans = if req.san_only.is_empty() {
            let mut s = default_sans(name);
            for extra in &req.extra_sans {
                if !s.contains(extra) {
                    s.push(extra.clone());
                }
            }
            s
        } else {
            req.san_only.clone()
        };
        let paths = ca.issue(name, &sans, req.key_kind)?;
        out.issued.push((name.clone(), paths, sans));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_reused_and_nodes_are_issued() {
        let dir = tempfile::tempdir().unwrap();
        let req = CertRequest {
            dir: dir.path().to_owned(),
            nodes: vec!["psn1".into()],
            ..CertRequest::default()
        };
        let first = create(&req).unwrap();
        assert!(first.ca_created);
        assert_eq!(first.issued.len(), 1);
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        let req2 = CertRequest {
            nodes: vec!["psn1".into(), "psn2".into()],
            ..req
        };
        let second = create(&req2).unwrap();
        assert!(!second.ca_created);
        assert_eq!(second.kept.len(), 1);
        assert_eq!(second.issued.len(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
            ca_pem
        );
        assert!(dir.path().join("psn2-key.pem").exists());
    }
}
