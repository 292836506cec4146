//! The TLS trust in use, for a bundle: subject, issuer, validity and SHA-256
//! fingerprint of every CA certificate in `--ca-file` and in the platform's
//! roots. Only certificates are read from the CA file; a private key found
//! in it is reported as present and never copied.

use std::fmt::Write as _;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject, SectionKind};

/// Upper case, colon-separated SHA-256 of `der` (as browsers show it).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One certificate as text lines.
fn describe(der: &CertificateDer<'_>) -> String {
    let fp = fingerprint(der.as_ref());
    match x509_parser::parse_x509_certificate(der.as_ref()) {
        Ok((_, cert)) => format!(
            "subject: {}\n  issuer: {}\n  valid: {} .. {}\n  sha256: {fp}\n",
            cert.subject(),
            cert.issuer(),
            cert.validity().not_before,
            cert.validity().not_after,
        ),
        Err(e) => format!("(certificate that does not parse: {e})\n  sha256: {fp}\n"),
    }
}

/// Describes the CA file's certificates; notes (never copies) private keys.
pub fn ca_file_summary(path: &Path) -> String {
    let mut out = format!("== --ca-file {} ==\n", path.display());
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(out, "(cannot read it: {e})");
            return out;
        }
    };
    let mut certs = 0usize;
    let mut keys = 0usize;
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        match item {
            Ok((SectionKind::Certificate, der)) => {
                certs += 1;
                out.push_str(&describe(&CertificateDer::from(der)));
            }
            Ok((
                SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey,
                _,
            )) => keys += 1,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(out, "(a PEM section does not parse: {e})");
                break;
            }
        }
    }
    let _ = writeln!(out, "{certs} certificate(s)");
    if keys > 0 {
        let _ = writeln!(
            out,
            "WARNING: the CA file also holds {keys} private key(s); they were not copied. A CA bundle should hold certificates only."
        );
    }
    out
}

/// Describes the platform's root certificates.
pub fn platform_roots_summary() -> String {
    let found = rustls_native_certs::load_native_certs();
    let mut out = format!(
        "== platform roots ==\n{} certificate(s) loaded, {} error(s)\n",
        found.certs.len(),
        found.errors.len()
    );
    for e in &found.errors {
        let _ = writeln!(out, "error: {e}");
    }
    for c in &found.certs {
        out.push_str(&describe(c));
    }
    out
}

/// The whole `trust.txt`.
pub fn summary(ca_file: Option<&Path>) -> String {
    let mut out = String::from(
        "TLS trust used to verify PSNs: --ca-file (if any) in addition to the platform's roots.\n\n",
    );
    match ca_file {
        Some(p) => out.push_str(&ca_file_summary(p)),
        None => out.push_str("== --ca-file ==\n(none given)\n"),
    }
    out.push('\n');
    out.push_str(&platform_roots_summary());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_lists_subject_and_fingerprint_and_never_the_key() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["psn1.lab".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Lab Posture CA");
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
        let text = ca_file_summary(&path);
        assert!(text.contains("CN=Lab Posture CA"), "{text}");
        assert!(text.contains(&fingerprint(cert.der())), "{text}");
        assert!(text.contains("1 certificate(s)"));
        assert!(text.contains("1 private key(s); they were not copied"));
        assert!(!text.contains("PRIVATE KEY-----"));
        let body = key.serialize_pem();
        let secret_line = body.lines().nth(1).unwrap();
        assert!(!text.contains(secret_line));
    }

    /// The exact text of a CA and a leaf it signed: every attribute kind the
    /// bundle prints (abbreviated, long name, unknown OID, BMP and Universal
    /// strings), UTCTime and GeneralizedTime validity, and the issuer taken
    /// from the signer.
    #[test]
    fn certificate_text_names_subject_issuer_and_validity() {
        use rcgen::{DnType, DnValue};
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name.push(
            DnType::CountryName,
            DnValue::PrintableString("DE".try_into().unwrap()),
        );
        ca.distinguished_name
            .push(DnType::StateOrProvinceName, "Bayern");
        ca.distinguished_name.push(DnType::LocalityName, "München");
        ca.distinguished_name
            .push(DnType::OrganizationName, "Lab Org");
        ca.distinguished_name
            .push(DnType::OrganizationalUnitName, "Posture");
        ca.distinguished_name
            .push(DnType::CommonName, "Lab Root CA");
        ca.not_before = rcgen::date_time_ymd(2020, 12, 31);
        ca.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();

        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = rcgen::CertificateParams::new(vec!["psn1.lab".to_string()]).unwrap();
        leaf.distinguished_name = rcgen::DistinguishedName::new();
        leaf.distinguished_name.push(DnType::CommonName, "psn1.lab");
        leaf.distinguished_name.push(
            DnType::OrganizationName,
            DnValue::BmpString("Bmp Örg".try_into().unwrap()),
        );
        leaf.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String("ops@lab.example".try_into().unwrap()),
        );
        leaf.distinguished_name.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
            DnValue::Ia5String("lab".try_into().unwrap()),
        );
        leaf.distinguished_name.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            DnValue::PrintableString("42".try_into().unwrap()),
        );
        leaf.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 97]), "VATDE-1");
        leaf.distinguished_name.push(
            DnType::CustomDnType(vec![2, 5, 4, 12]),
            DnValue::UniversalString("Ab".try_into().unwrap()),
        );
        leaf.not_before = rcgen::date_time_ymd(2024, 3, 5);
        leaf.not_after = rcgen::date_time_ymd(2051, 11, 20);
        let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();

        let ca_der = CertificateDer::from(ca.as_ref().der().to_vec());
        assert_eq!(
            describe(&ca_der),
            format!(
                "subject: C=DE, ST=Bayern, L=München, O=Lab Org, OU=Posture, CN=Lab Root CA\n  \
                 issuer: C=DE, ST=Bayern, L=München, O=Lab Org, OU=Posture, CN=Lab Root CA\n  \
                 valid: Dec 31 00:00:00 2020 +00:00 .. Dec 31 00:00:00 2049 +00:00\n  \
                 sha256: {}\n",
                fingerprint(&ca_der)
            )
        );
        let leaf_der = CertificateDer::from(leaf.der().to_vec());
        assert_eq!(
            describe(&leaf_der),
            format!(
                "subject: CN=psn1.lab, O=Bmp Örg, Email=ops@lab.example, DC=lab, serialNumber=42, \
                 OID(2.5.4.97)=VATDE-1, title=0000004100000062\n  \
                 issuer: C=DE, ST=Bayern, L=München, O=Lab Org, OU=Posture, CN=Lab Root CA\n  \
                 valid: Mar  5 00:00:00 2024 +00:00 .. Nov 20 00:00:00 2051 +00:00\n  \
                 sha256: {}\n",
                fingerprint(&leaf_der)
            )
        );
    }

    #[test]
    fn a_certificate_that_does_not_parse_still_shows_its_fingerprint() {
        for der in [&b"\x30\x03\x02\x01"[..], b"\x04\x00", b""] {
            let text = describe(&CertificateDer::from(der.to_vec()));
            assert!(
                text.starts_with("(certificate that does not parse: "),
                "{text}"
            );
            assert!(
                text.ends_with(&format!("  sha256: {}\n", fingerprint(der))),
                "{text}"
            );
        }
    }

    #[test]
    fn fingerprint_is_colon_hex_sha256() {
        let fp = fingerprint(b"abc");
        assert!(fp.starts_with("BA:78:16:BF:"), "{fp}");
        assert_eq!(fp.len(), 32 * 3 - 1);
    }
}
