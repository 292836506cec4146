//! The TLS trust in use, for a bundle: subject, issuer, validity and SHA-256
//! fingerprint of every CA certificate in `--ca-file` and in the platform's
//! roots. Only certificates are read from the CA file; a private key found
//! in it is reported as present and never copied.

use std::fmt::Write as _;
use std::path::Path;

use der::{Decode as _, Reader as _, SliceReader};
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
    match CertText::read(der.as_ref()) {
        Ok(c) => format!(
            "subject: {}\n  issuer: {}\n  valid: {} .. {}\n  sha256: {fp}\n",
            c.subject, c.issuer, c.not_before, c.not_after,
        ),
        Err(e) => format!("(certificate that does not parse: {e})\n  sha256: {fp}\n"),
    }
}

/// Why a certificate's fields could not be read.
#[derive(Debug, thiserror::Error)]
enum CertTextError {
    /// The DER framing is broken (length, truncation, trailing bytes).
    #[error("{0}")]
    Der(der::Error),
    /// A field has another type than X.509 gives it.
    #[error("expected {expected}, found ASN.1 tag 0x{found:02x}")]
    Unexpected {
        /// What X.509 puts there.
        expected: &'static str,
        /// The identifier octet found instead.
        found: u8,
    },
}

// By hand: without its `std` feature der's error is no `std::error::Error`,
// which `#[from]` would make the source.
impl From<der::Error> for CertTextError {
    fn from(e: der::Error) -> Self {
        CertTextError::Der(e)
    }
}

impl From<der::ErrorKind> for CertTextError {
    fn from(kind: der::ErrorKind) -> Self {
        CertTextError::Der(kind.into())
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OBJECT_IDENTIFIER: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version` of the TBSCertificate.
const VERSION: u8 = 0xa0;

/// The fields of a certificate the bundle shows, as text. Only the
/// TBSCertificate's names and validity are read: a small DER walk instead of
/// a full X.509 parser, which the agent needs nowhere else (rustls and
/// webpki verify the chains). The text is the one x509-parser printed, so
/// bundles read the same as before.
#[derive(Debug)]
struct CertText {
    subject: String,
    issuer: String,
    not_before: String,
    not_after: String,
}

impl CertText {
    /// Reads `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
    /// signatureValue }` (RFC 5280, 4.1).
    fn read(der: &[u8]) -> Result<Self, CertTextError> {
        let mut outer = SliceReader::new(der)?;
        let cert = expect(&mut outer, SEQUENCE, "a certificate (SEQUENCE)")?;
        let mut cert = SliceReader::new(cert)?;
        let tbs = expect(&mut cert, SEQUENCE, "a TBSCertificate (SEQUENCE)")?;
        expect(&mut cert, SEQUENCE, "a signature algorithm (SEQUENCE)")?;
        tlv(&mut cert)?; // the signature value
        cert.finish(())?;

        let mut tbs = SliceReader::new(tbs)?;
        if tbs.peek_byte() == Some(VERSION) {
            tlv(&mut tbs)?;
        }
        tlv(&mut tbs)?; // serialNumber
        expect(&mut tbs, SEQUENCE, "a signature algorithm (SEQUENCE)")?;
        let issuer = name(expect(&mut tbs, SEQUENCE, "the issuer name (SEQUENCE)")?)?;
        let mut validity =
            SliceReader::new(expect(&mut tbs, SEQUENCE, "the validity (SEQUENCE)")?)?;
        let not_before = time(&mut validity)?;
        let not_after = time(&mut validity)?;
        validity.finish(())?;
        let subject = name(expect(&mut tbs, SEQUENCE, "the subject name (SEQUENCE)")?)?;
        // The public key, unique ids and extensions are not shown.
        Ok(CertText {
            subject,
            issuer,
            not_before,
            not_after,
        })
    }
}

/// The next TLV: its identifier octet and its contents. Tags are read as
/// raw octets so that every string type of a name (GeneralString,
/// UniversalString, ...) can be shown, typed or not.
fn tlv<'a>(r: &mut SliceReader<'a>) -> Result<(u8, &'a [u8]), CertTextError> {
    let tag = r.read_byte()?;
    if tag & 0x1f == 0x1f {
        // High tag numbers appear nowhere in the fields read here.
        return Err(der::ErrorKind::TagNumberInvalid.into());
    }
    let len = der::Length::decode(r)?;
    Ok((tag, r.read_slice(len)?))
}

/// The contents of the next TLV, which must carry `tag`.
fn expect<'a>(
    r: &mut SliceReader<'a>,
    tag: u8,
    expected: &'static str,
) -> Result<&'a [u8], CertTextError> {
    match tlv(r)? {
        (found, contents) if found == tag => Ok(contents),
        (found, _) => Err(CertTextError::Unexpected { expected, found }),
    }
}

/// `Name ::= SEQUENCE OF SET OF AttributeTypeAndValue` as x509-parser printed
/// it: `type=value` pairs, ", " between RDNs, " + " inside a multi-valued one.
fn name(rdns: &[u8]) -> Result<String, CertTextError> {
    let mut rdns = SliceReader::new(rdns)?;
    let mut out = Vec::new();
    while !rdns.is_finished() {
        let mut set = SliceReader::new(expect(&mut rdns, SET, "an RDN (SET)")?)?;
        let mut parts = Vec::new();
        while !set.is_finished() {
            let mut atv = SliceReader::new(expect(&mut set, SEQUENCE, "an attribute (SEQUENCE)")?)?;
            let oid = expect(&mut atv, OBJECT_IDENTIFIER, "an attribute type (OID)")?;
            let (tag, value) = tlv(&mut atv)?;
            atv.finish(())?;
            let Some(value) = attribute_value(tag, value) else {
                // x509-parser printed the whole name this way.
                return Ok("<X509Error: Invalid X.509 name>".to_owned());
            };
            parts.push(format!("{}={value}", attribute_name(oid)));
        }
        out.push(parts.join(" + "));
    }
    Ok(out.join(", "))
}

/// Short names of the attribute types (x509-parser's abbreviations, else the
/// short name of its OID registry); others print as `OID(1.2.3)`.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.2.840.113549.1.9.1", "Email"),
    ("2.5.4.0", "objectClass"),
    ("2.5.4.1", "aliasedEntryName"),
    ("2.5.4.2", "knowledgeInformation"),
    ("2.5.4.4", "surname"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.9", "streetAddress"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.14", "searchGuide"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.16", "postalAddress"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "givenName"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.45", "uniqueIdentifier"),
    ("2.5.4.46", "dnQualifier"),
    ("0.9.2342.19200300.100.1.1", "uid"),
    ("1.2.840.113549.1.9.2", "unstructuredName"),
    ("1.3.6.1.4.1.311.60.2.1.1", "msJurisdictionLocality"),
    ("1.3.6.1.4.1.311.60.2.1.2", "msJurisdictionStateOrProvince"),
    ("1.3.6.1.4.1.311.60.2.1.3", "msJurisdictionCountry"),
];

/// The attribute type's short name, or `OID(dotted)`.
fn attribute_name(oid: &[u8]) -> String {
    match dotted(oid) {
        Some(d) => match ATTRIBUTE_NAMES.iter().find(|(o, _)| *o == d) {
            Some((_, short)) => (*short).to_owned(),
            None => format!("OID({d})"),
        },
        None => format!("OID(0x{})", hex(oid)),
    }
}

/// The dotted form of an OID's contents; `None` when they are malformed.
fn dotted(oid: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut arc: u64 = 0;
    for (i, b) in oid.iter().enumerate() {
        arc = arc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 != 0 {
            continue;
        }
        if arcs.is_empty() {
            let first = (arc / 40).min(2);
            arcs.push(first);
            arcs.push(arc - first * 40);
        } else {
            arcs.push(arc);
        }
        arc = 0;
        if i + 1 == oid.len() {
            return Some(
                arcs.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
    }
    None
}

/// An attribute value as text: the string types as their text (`None` when
/// it is not valid), any other type as upper-case hex of its contents.
fn attribute_value(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        // NumericString, VisibleString, PrintableString, GeneralString,
        // ObjectDescriptor, GraphicString, T61String, VideotexString,
        // UTF8String, IA5String.
        0x12 | 0x1a | 0x13 | 0x1b | 0x07 | 0x19 | 0x14 | 0x15 | 0x0c | 0x16 => {
            std::str::from_utf8(contents).ok().map(str::to_owned)
        }
        // BMPString: UTF-16 big-endian.
        0x1e => {
            let units: Vec<u16> = contents
                .chunks(2)
                .map(|c| match c {
                    [a, b] => u16::from_be_bytes([*a, *b]),
                    [a, ..] => u16::from(*a),
                    [] => 0,
                })
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => Some(hex(contents)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A validity time as `Mon DD HH:MM:SS YYYY +00:00`; a time in another form
/// than RFC 5280's (UTCTime `YYMMDDHHMMSSZ`, GeneralizedTime
/// `YYYYMMDDHHMMSSZ`) is shown as written.
fn time(r: &mut SliceReader<'_>) -> Result<String, CertTextError> {
    let (tag, contents) = tlv(r)?;
    let text = String::from_utf8_lossy(contents);
    let digits = match tag {
        // Two-digit years: 50..99 are 19xx (RFC 5280, 4.1.2.5.1).
        UTC_TIME => text
            .get(..2)
            .and_then(|yy| yy.parse::<u8>().ok())
            .map(|yy| format!("{}{text}", if yy >= 50 { "19" } else { "20" })),
        GENERALIZED_TIME => Some(text.to_string()),
        found => {
            return Err(CertTextError::Unexpected {
                expected: "a time (UTCTime or GeneralizedTime)",
                found,
            });
        }
    };
    Ok(digits
        .as_deref()
        .and_then(format_time)
        .unwrap_or_else(|| format!("{text:?}")))
}

/// `YYYYMMDDHHMMSSZ` in x509-parser's display form.
fn format_time(t: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = t.as_bytes();
    if b.len() != 15 || b[14] != b'Z' || !b[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| t[range].parse::<u32>().ok();
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    let month_name = MONTHS.get(usize::try_from(month.checked_sub(1)?).ok()?)?;
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(format!(
        "{month_name} {day:>2} {hour:02}:{minute:02}:{second:02} {year} +00:00"
    ))
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
    fn oids_times_and_odd_values_read_as_x509_parser_showed_them() {
        assert_eq!(dotted(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).as_deref(),
            Some("1.2.840.113549.1.9.1")
        );
        assert_eq!(dotted(&[0x2a, 0x86]), None, "truncated arc");
        assert_eq!(attribute_name(&[0x55, 0x04, 0x61]), "OID(2.5.4.97)");
        assert_eq!(
            format_time("20240305010203Z").as_deref(),
            Some("Mar  5 01:02:03 2024 +00:00")
        );
        assert_eq!(format_time("20241305000000Z"), None, "month 13");
        assert_eq!(format_time("202403050000Z"), None, "no seconds");
        assert_eq!(attribute_value(0x0c, b"\xff"), None, "not UTF-8");
        assert_eq!(attribute_value(0x04, b"\x01\xab").as_deref(), Some("01AB"));
    }

    #[test]
    fn fingerprint_is_colon_hex_sha256() {
        let fp = fingerprint(b"abc");
        assert!(fp.starts_with("BA:78:16:BF:"), "{fp}");
        assert_eq!(fp.len(), 32 * 3 - 1);
    }
}
