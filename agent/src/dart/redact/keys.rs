//! Which names say "secret" (and which say "session id"): the one place the
//! text, XML and profile rules ask.

/// Secret words matched anywhere in a name (separators removed, lowercase).
const SECRET_SUBSTRINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "privkey",
    "authkey",
    "masterkey",
    "encryptionkey",
    "signingkey",
    "credential",
    "cookie",
    "psk",
    "preshared",
    "sharedkey",
    "community",
    "jwt",
    "bearer",
    "authorization",
    // PuTTY key files: `Private-Lines:`, `Private-MAC:`, `Private-Hash:`.
    "privatelines",
    "privatemac",
    "privatehash",
];

/// Secret words matched only as a whole word of the name (split at
/// separators and lower-to-upper case changes): too short to match inside
/// other words (`pin` in `PingArp`, `pass` in `passive`).
const SECRET_WORDS: &[&str] = &[
    "pin", "pincode", "pass", "pw", "cred", "creds", "otp", "sig",
];

/// Words that end in `pass` and name no secret. Any other word ending in
/// `pass` or `pw` does (`sshpass`, `keypass`, `storepass`, `rootpw`).
const NOT_PASS: &[&str] = &[
    "bypass",
    "compass",
    "encompass",
    "overpass",
    "underpass",
    "surpass",
    "trespass",
];

/// Attributes and keys that name a neighbouring value:
/// `<Setting name="Password" value="..."/>`, `{"key": "secret", "value": ...}`.
const NAMING_KEYS: &[&str] = &[
    "name",
    "key",
    "id",
    "param",
    "parameter",
    "property",
    "field",
    "setting",
    "option",
    "variable",
    "var",
];

/// The keys that hold the value a [`NAMING_KEYS`] entry names.
const VALUE_KEYS: &[&str] = &["value", "val", "data", "content", "text", "string"];

fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Calls `f` with each word of a name: split at non-alphanumerics and at
/// lower-to-upper case changes, lowercase (`ProxyPass` -> `proxy`, `pass`),
/// until `f` returns true.
fn any_word(name: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    let mut word = String::with_capacity(name.len());
    let mut prev_lower = false;
    for c in name.chars() {
        let split = !c.is_alphanumeric() || (c.is_uppercase() && prev_lower);
        if split && !word.is_empty() {
            if f(&word) {
                return true;
            }
            word.clear();
        }
        if !c.is_alphanumeric() {
            prev_lower = false;
            continue;
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    !word.is_empty() && f(&word)
}

fn is_secret_word(w: &str) -> bool {
    SECRET_WORDS.contains(&w)
        || (w.ends_with("pass") && !NOT_PASS.contains(&w))
        || w.ends_with("pw")
}

/// Whether a key, attribute, option or element name names a secret.
pub fn is_secret_name(name: &str) -> bool {
    matches!(classify(name), Class::Secret | Class::Authorization)
}

/// What a key names, decided with one look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A secret, except `Authorization`.
    Secret,
    /// An `Authorization` header: a secret too, but its own rule keeps the
    /// scheme (`Authorization: Bearer [redacted]`).
    Authorization,
    /// A session id ([`is_session_name`]).
    Session,
    /// Nothing the redaction cares about.
    Other,
}

/// Classifies a key: [`Class::Secret`] wins over the session classes.
pub fn classify(name: &str) -> Class {
    if name.is_empty() || name.len() > 128 {
        return Class::Other;
    }
    let squashed = squash(name);
    let bytes = squashed.as_bytes();
    // Plain byte windows: the names are short, and this runs for every
    // `key=` and `key:` of a log.
    let contains = |w: &str| bytes.windows(w.len()).any(|x| x == w.as_bytes());
    if SECRET_SUBSTRINGS.iter().any(|w| contains(w)) || any_word(name, is_secret_word) {
        if squashed.ends_with("authorization") {
            return Class::Authorization;
        }
        return Class::Secret;
    }
    if squashed.ends_with("session") || squashed.ends_with("sessionid") {
        return Class::Session;
    }
    Class::Other
}

/// Whether a key names a posture session id: `session`, `session_id`,
/// `last_session_id`, `X-Posture-Session`, `sessionId`.
pub fn is_session_name(name: &str) -> bool {
    classify(name) == Class::Session
}

/// Whether an attribute or key names its neighbour's value
/// (`name`, `key`, ...).
pub fn is_naming_key(name: &str) -> bool {
    NAMING_KEYS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Whether a key holds the value its naming neighbour names (`value`, ...).
pub fn is_value_key(name: &str) -> bool {
    VALUE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_words_are_whole_words_only() {
        for secret in [
            "pass",
            "PASS",
            "db_pass",
            "ProxyPass",
            "pw",
            "DB_PW",
            "adminPw",
            "rootpw",
            "sshpass",
            "keypass",
            "storepass",
            "pin",
            "SimPin",
            "pin_code",
            "creds",
            "sig",
        ] {
            assert!(is_secret_name(secret), "{secret}");
        }
        for ordinary in [
            "compass",
            "bypass",
            "BypassList",
            "passive",
            "passed",
            "Passenger",
            "mapping",
            "PingArp",
            "spinner",
            "pinned",
            "pwr",
            "signal",
            "design",
            "session",
            "psn",
            "StateSyncProbeInterval",
            "name",
            "key",
        ] {
            assert!(!is_secret_name(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn session_names() {
        for name in [
            "session",
            "session_id",
            "last_session_id",
            "X-Posture-Session",
            "sessionId",
        ] {
            assert!(is_session_name(name), "{name}");
        }
        assert!(!is_session_name("sessions_count"));
        assert!(!is_session_name("psn"));
    }
}
