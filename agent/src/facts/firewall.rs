//! `firewall-enabled`: whether inbound traffic meets a dropping firewall.
//!
//! Linux, in this order:
//!
//! 1. the nftables ruleset, from `/usr/sbin/nft -j list ruleset` ([`NFT`],
//!    fixed path and arguments, no shell, empty environment, at most
//!    [`NFT_TIMEOUT`] and [`NFT_MAX_OUTPUT`] bytes). The firewall is
//!    **enabled** when a table of family `inet`, `ip` or `ip6` has a base
//!    chain with hook `input` whose policy is `drop`, or whose last rule is an
//!    unconditional `drop` or `reject` (only `counter`/`log` before the
//!    verdict): firewalld's and ufw's rulesets (iptables-nft) look like one
//!    of these. A ruleset with no such chain is **not enabled**.
//! 2. Listing the ruleset needs CAP_NET_ADMIN: an unprivileged agent (the
//!    usual case: it runs with the user's rights) is "not permitted to read
//!    the ruleset". Then `/etc/ufw/ufw.conf` with `ENABLED=yes` counts as
//!    enabled (ufw loads its rules at boot when enabled); otherwise the fact
//!    is unavailable with nft's reason and the condition fails closed.
//!
//! macOS: `socketfilterfw --getglobalstate` (the application firewall,
//! ALF). Windows: `netsh advfirewall show allprofiles state`, every profile
//! on (netsh's words are English; a localized output is unreadable and
//! fails closed). Both parsers are tested on every platform with recorded
//! output.

use std::time::Duration;

use super::{FactRoot, MAX_FACT_FILE_BYTES, Unavailable};

/// The one command the agent runs for a fact: fixed absolute path.
pub const NFT: &str = "/usr/sbin/nft";

/// Its fixed arguments.
pub const NFT_ARGS: &[&str] = &["-j", "list", "ruleset"];

/// How long `nft` may run before it is killed.
pub const NFT_TIMEOUT: Duration = super::command::TIMEOUT;

/// Most bytes of `nft` output read.
pub const NFT_MAX_OUTPUT: u64 = 4 * 1024 * 1024;

/// ufw's configuration.
pub const UFW_CONF: &str = "/etc/ufw/ufw.conf";

/// What the agent found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    /// Whether inbound traffic meets a dropping firewall.
    pub enabled: bool,
    /// What decided, in words.
    pub detail: String,
}

/// Gathers the firewall fact: `ruleset` is nft's JSON output or why there
/// is none.
pub fn gather(
    root: &FactRoot,
    ruleset: Result<String, Unavailable>,
) -> Result<Firewall, Unavailable> {
    #[cfg(target_os = "macos")]
    {
        let _ = ruleset;
        let text = super::command::run_text(root, SOCKETFILTERFW, SOCKETFILTERFW_ARGS, 64 * 1024)
            .map_err(|e| Unavailable(format!("firewall state unreadable: {e}")))?;
        parse_socketfilterfw(&text)
    }
    #[cfg(windows)]
    {
        let _ = ruleset;
        let text = super::command::run_text(root, NETSH, NETSH_ARGS, 64 * 1024)
            .map_err(|e| Unavailable(format!("firewall state unreadable: {e}")))?;
        parse_netsh_profiles(&text)
    }
    #[cfg(not(any(target_os = "macos", windows)))]
    {
        linux(root, ruleset)
    }
}

/// macOS: the application firewall's tool and its fixed arguments.
pub const SOCKETFILTERFW: &str = "/usr/libexec/ApplicationFirewall/socketfilterfw";
/// `socketfilterfw --getglobalstate`.
pub const SOCKETFILTERFW_ARGS: &[&str] = &["--getglobalstate"];

/// Windows: netsh and its fixed arguments.
pub const NETSH: &str = r"C:\Windows\System32\netsh.exe";
/// `netsh advfirewall show allprofiles state`.
pub const NETSH_ARGS: &[&str] = &["advfirewall", "show", "allprofiles", "state"];

/// macOS: `Firewall is enabled. (State = 1)`; state 1 (on) or 2 (block
/// all incoming) is enabled.
pub fn parse_socketfilterfw(text: &str) -> Result<Firewall, Unavailable> {
    let state = text
        .split_once("State = ")
        .and_then(|(_, rest)| rest.chars().next())
        .and_then(|c| c.to_digit(10))
        .ok_or_else(|| {
            Unavailable(format!(
                "firewall state unreadable: socketfilterfw said {:?}",
                text.trim()
            ))
        })?;
    Ok(Firewall {
        enabled: state >= 1,
        detail: match state {
            0 => "the application firewall is off".to_owned(),
            1 => "the application firewall is on".to_owned(),
            _ => "the application firewall blocks all incoming connections".to_owned(),
        },
    })
}

/// Windows: `netsh advfirewall show allprofiles state`, one `State ON|OFF`
/// per profile (Domain, Private, Public); enabled when every profile is on.
pub fn parse_netsh_profiles(text: &str) -> Result<Firewall, Unavailable> {
    let mut profile = String::new();
    let mut off = Vec::new();
    let mut seen = 0;
    for line in text.lines().map(str::trim) {
        if let Some(p) = line.strip_suffix(" Profile Settings:") {
            profile = p.to_owned();
        } else if let Some(v) = line.strip_prefix("State") {
            seen += 1;
            if v.trim() != "ON" {
                off.push(profile.clone());
            }
        }
    }
    if seen == 0 {
        return Err(Unavailable(
            "firewall state unreadable: netsh printed no profile state".to_owned(),
        ));
    }
    Ok(Firewall {
        enabled: off.is_empty(),
        detail: if off.is_empty() {
            format!("Windows Firewall is on in all {seen} profiles")
        } else {
            format!("Windows Firewall is off in the {} profile", off.join(", "))
        },
    })
}

/// Linux: the nftables ruleset, else ufw's configuration.
pub fn linux(
    root: &FactRoot,
    ruleset: Result<String, Unavailable>,
) -> Result<Firewall, Unavailable> {
    match ruleset {
        Ok(json) => evaluate_ruleset(&json),
        Err(nft_reason) => match root.read(UFW_CONF, MAX_FACT_FILE_BYTES) {
            Ok(conf) if ufw_enabled(&conf) => Ok(Firewall {
                enabled: true,
                detail: format!(
                    "ufw is enabled ({UFW_CONF}: ENABLED=yes); the nftables ruleset itself was not read: {nft_reason}"
                ),
            }),
            _ => Err(Unavailable(format!(
                "firewall state unreadable: {nft_reason}"
            ))),
        },
    }
}

/// `ENABLED=yes` in ufw.conf.
pub fn ufw_enabled(conf: &str) -> bool {
    conf.lines().any(|l| {
        l.trim().strip_prefix("ENABLED=").is_some_and(|v| {
            v.trim()
                .trim_matches(['"', '\''])
                .eq_ignore_ascii_case("yes")
        })
    })
}

/// Decides on `nft -j list ruleset` output.
pub fn evaluate_ruleset(json: &str) -> Result<Firewall, Unavailable> {
    let doc: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Unavailable(format!("nft printed a ruleset the agent cannot read: {e}")))?;
    let items = doc
        .get("nftables")
        .and_then(|v| v.as_array())
        .ok_or_else(|| Unavailable("nft printed no \"nftables\" array".to_owned()))?;
    let family_ok = |f: Option<&str>| matches!(f, Some("inet" | "ip" | "ip6"));
    // (family, table, chain) of input base chains, with their policy.
    let mut inputs: Vec<(String, String, String, bool)> = Vec::new();
    for item in items {
        if let Some(c) = item.get("chain") {
            let s = |k: &str| c.get(k).and_then(|v| v.as_str());
            if family_ok(s("family")) && s("hook") == Some("input") {
                inputs.push((
                    s("family").unwrap_or_default().to_owned(),
                    s("table").unwrap_or_default().to_owned(),
                    s("name").unwrap_or_default().to_owned(),
                    s("policy") == Some("drop"),
                ));
            }
        }
    }
    for (family, table, chain, drops) in &inputs {
        if *drops {
            return Ok(Firewall {
                enabled: true,
                detail: format!(
                    "the nftables chain {family} {table} {chain} drops inbound traffic by policy"
                ),
            });
        }
        let last = items.iter().rev().filter_map(|i| i.get("rule")).find(|r| {
            let s = |k: &str| r.get(k).and_then(|v| v.as_str());
            s("family") == Some(family) && s("table") == Some(table) && s("chain") == Some(chain)
        });
        if last.is_some_and(unconditional_drop) {
            return Ok(Firewall {
                enabled: true,
                detail: format!(
                    "the nftables chain {family} {table} {chain} ends with a rule that drops or rejects all other inbound traffic"
                ),
            });
        }
    }
    Ok(Firewall {
        enabled: false,
        detail: if inputs.is_empty() {
            "the nftables ruleset has no input chain: inbound traffic is not filtered".to_owned()
        } else {
            "no nftables input chain drops by policy or ends with a drop or reject rule".to_owned()
        },
    })
}

fn unconditional_drop(rule: &serde_json::Value) -> bool {
    let Some(expr) = rule.get("expr").and_then(|e| e.as_array()) else {
        return false;
    };
    let Some((last, before)) = expr.split_last() else {
        return false;
    };
    let verdict = last.get("drop").is_some() || last.get("reject").is_some();
    verdict
        && before
            .iter()
            .all(|s| s.get("counter").is_some() || s.get("log").is_some())
}

/// Runs [`NFT`] with [`NFT_ARGS`]: its JSON output, or why there is none.
pub fn run_nft() -> Result<String, Unavailable> {
    if !std::path::Path::new(NFT).is_file() {
        return Err(Unavailable(format!(
            "nft not installed ({NFT} does not exist)"
        )));
    }
    let out = super::command::run(NFT, NFT_ARGS, NFT_MAX_OUTPUT).map_err(|e| {
        if e.0.contains("printed more than") {
            Unavailable(format!(
                "the nftables ruleset is larger than the {} MiB the agent reads",
                NFT_MAX_OUTPUT / (1024 * 1024)
            ))
        } else {
            e
        }
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("Operation not permitted") || err.contains("Permission denied") {
            return Err(Unavailable(
                "not permitted to read the ruleset (listing nftables needs CAP_NET_ADMIN; the agent runs with the user's rights)"
                    .to_owned(),
            ));
        }
        let first = err
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return Err(Unavailable(format!(
            "{NFT} failed ({}): {first}",
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::test_tree::put;

    // Recorded on the build machine (nft 1.0.6) in a fresh network
    // namespace: `unshare -n sh -c 'nft add table ...; nft -j list ruleset'`.
    const INET_DROP: &str = include_str!("samples/nft-inet-drop.json");
    const IP_FINAL_REJECT: &str = include_str!("samples/nft-ip-final-reject.json");
    const INET_ACCEPT: &str = include_str!("samples/nft-inet-accept.json");
    const EMPTY: &str = include_str!("samples/nft-empty.json");

    #[test]
    fn recorded_rulesets_are_judged() {
        let f = evaluate_ruleset(INET_DROP).unwrap();
        assert!(f.enabled);
        assert_eq!(
            f.detail,
            "the nftables chain inet filter input drops inbound traffic by policy"
        );
        let f = evaluate_ruleset(IP_FINAL_REJECT).unwrap();
        assert!(f.enabled, "{f:?}");
        assert!(f.detail.contains("ends with a rule that drops or rejects"));
        let f = evaluate_ruleset(INET_ACCEPT).unwrap();
        assert!(!f.enabled, "a conditional drop is not a firewall: {f:?}");
        let f = evaluate_ruleset(EMPTY).unwrap();
        assert!(!f.enabled);
        assert_eq!(
            f.detail,
            "the nftables ruleset has no input chain: inbound traffic is not filtered"
        );
        assert!(evaluate_ruleset("not json").is_err());
    }

    #[test]
    fn an_unreadable_ruleset_falls_back_to_ufw_or_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        let denied = || Err(Unavailable("not permitted to read the ruleset".to_owned()));
        let e = gather(&root, denied()).unwrap_err();
        assert_eq!(
            e.0,
            "firewall state unreadable: not permitted to read the ruleset"
        );
        put(
            dir.path(),
            UFW_CONF,
            "# comment\nENABLED=no\nLOGLEVEL=low\n",
        );
        assert!(gather(&root, denied()).is_err());
        put(dir.path(), UFW_CONF, "ENABLED=yes\nLOGLEVEL=low\n");
        let f = gather(&root, denied()).unwrap();
        assert!(f.enabled);
        assert!(f.detail.starts_with("ufw is enabled"), "{}", f.detail);
        // A readable ruleset decides, whatever ufw.conf says.
        assert!(!gather(&root, Ok(EMPTY.to_owned())).unwrap().enabled);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_real_nft_answers_or_says_why_not() {
        match run_nft() {
            Ok(json) => {
                evaluate_ruleset(&json).unwrap();
            }
            Err(e) => assert!(
                e.0.contains("not installed")
                    || e.0.contains("not permitted")
                    || e.0.contains("failed"),
                "{e}"
            ),
        }
    }
}
