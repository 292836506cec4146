//! The table of known profile keys: the single source of truth for parsing,
//! validation, defaults, documentation and schema export.
//!
//! Adding a key means adding one [`KeyDef`] to [`KEYS`]; the parser, the
//! generated `docs/profile.md` and `posture-sync profile schema` follow.

/// The type (and allowed range) of a known key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A whole number of seconds in `min..=max`.
    Seconds {
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A whole number of minutes in `min..=max`.
    Minutes {
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A whole number of mebibytes in `min..=max`.
    Megabytes {
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A plain count in `min..=max`.
    Count {
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A small code whose values the vendor defines; `0..=max`.
    Choice {
        /// Largest allowed code.
        max: u32,
    },
    /// A flag written as `0` (off) or `1` (on).
    Bool01,
    /// Free text (UI strings, links). Anything, including empty.
    Text,
    /// Comma-separated `host` or `host:port` entries (IPv6 as `[addr]:port`);
    /// empty means none.
    HostList {
        /// Port used when an entry names none.
        default_port: u16,
    },
    /// One `host` or `host:port`, or empty for none.
    HostPort {
        /// Port used when the value names none.
        default_port: u16,
    },
    /// Comma-separated host name patterns with `*` wildcards (within one DNS
    /// label; a leading `*.` spans labels), compared without regard to case.
    /// `*` accepts any host; empty derives the patterns from the hosts the
    /// profile names ([`crate::ServerNameRules::derived`]).
    NamePatterns,
    /// Comma-separated TCP ports and `first-last` ranges.
    PortRanges,
    /// Comma-separated absolute path prefixes; empty means none.
    PathList,
}

impl KeyType {
    /// The `(min, max)` range of a numeric type, `None` for the others.
    pub fn range(self) -> Option<(u32, u32)> {
        match self {
            KeyType::Seconds { min, max }
            | KeyType::Minutes { min, max }
            | KeyType::Megabytes { min, max }
            | KeyType::Count { min, max } => Some((min, max)),
            KeyType::Choice { max } => Some((0, max)),
            KeyType::Bool01 => Some((0, 1)),
            KeyType::Text
            | KeyType::HostList { .. }
            | KeyType::HostPort { .. }
            | KeyType::NamePatterns
            | KeyType::PortRanges
            | KeyType::PathList => None,
        }
    }

    /// Short name used in the schema export and the docs.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Seconds { .. } => "seconds",
            KeyType::Minutes { .. } => "minutes",
            KeyType::Megabytes { .. } => "megabytes",
            KeyType::Count { .. } => "count",
            KeyType::Choice { .. } => "choice",
            KeyType::Bool01 => "bool01",
            KeyType::Text => "text",
            KeyType::HostList { .. } => "host-list",
            KeyType::HostPort { .. } => "host-port",
            KeyType::NamePatterns => "name-patterns",
            KeyType::PortRanges => "port-ranges",
            KeyType::PathList => "path-list",
        }
    }

    /// The unit of a numeric value, if it has one.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            KeyType::Seconds { .. } => Some("s"),
            KeyType::Minutes { .. } => Some("min"),
            KeyType::Megabytes { .. } => Some("MB"),
            _ => None,
        }
    }

    /// What a value may be, for administrators: `0-300 s`, `0 or 1`, ...
    pub fn allowed(self) -> String {
        match self {
            KeyType::Bool01 => "0 or 1".to_owned(),
            KeyType::Text => "any text".to_owned(),
            KeyType::HostList { .. } => "comma-separated `host` or `host:port`".to_owned(),
            KeyType::HostPort { .. } => "`host` or `host:port`".to_owned(),
            KeyType::NamePatterns => "comma-separated patterns, `*` wildcards".to_owned(),
            KeyType::PortRanges => "comma-separated ports or `first-last` ranges".to_owned(),
            KeyType::PathList => "comma-separated absolute path prefixes".to_owned(),
            ty => match (ty.range(), ty.unit()) {
                (Some((min, max)), Some(unit)) => format!("{min}-{max} {unit}"),
                (Some((min, max)), None) => format!("{min}-{max}"),
                (None, _) => String::new(),
            },
        }
    }

    /// The default port of a host type.
    pub fn default_port(self) -> Option<u16> {
        match self {
            KeyType::HostList { default_port } | KeyType::HostPort { default_port } => {
                Some(default_port)
            }
            _ => None,
        }
    }
}

/// One known profile key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDef {
    /// Element name, exactly as written in the profile (case-sensitive).
    pub name: &'static str,
    /// Value type and range.
    pub ty: KeyType,
    /// Value used when the key is absent or empty, as profile text.
    pub default: &'static str,
    /// Whether the agent reads the key. This decides how strict parsing is:
    /// a bad value of a used key makes the profile invalid (error); a key the
    /// agent does not use is kept as written for the vendor's agent and UI,
    /// and a value that does not fit its type or range (or an element inside
    /// it) is only a lint warning, because ISE may accept what posture-sync
    /// does not know. Only keys with `used` may be read by the typed
    /// accessors of [`Profile`](crate::Profile).
    pub used: bool,
    /// What the key means, for administrators (one or two sentences).
    pub doc: &'static str,
    /// Where the range or default came from when the specification does not
    /// give it (empty when it does).
    pub note: &'static str,
}

/// Port of the posture state sync probe (PSN's bidirectional port).
pub const STATE_SYNC_PORT: u16 = 8449;
/// Port of the client provisioning portal used for discovery.
pub const DISCOVERY_PORT: u16 = 8443;

/// Every key posture-sync knows, in the order the docs list them: the keys the
/// agent uses first, then the vendor keys it keeps (and only lints).
pub static KEYS: &[KeyDef] = &[
    KeyDef {
        name: "StateSyncProbeInterval",
        ty: KeyType::Seconds { min: 0, max: 300 },
        default: "0",
        used: true,
        doc: "Posture state synchronization interval: how often the agent probes the PSNs' state sync port while the posture is known. 0 or absent disables state sync.",
        note: "",
    },
    KeyDef {
        name: "PostureProbingBackupList",
        ty: KeyType::HostList {
            default_port: STATE_SYNC_PORT,
        },
        default: "",
        used: true,
        doc: "PSNs to probe for state sync, comma-separated `host` or `host:port`. Empty: the connected PSN plus up to two PSNs from the last discovery.",
        note: "",
    },
    KeyDef {
        name: "NetworkTransitionDelay",
        ty: KeyType::Seconds { min: 2, max: 30 },
        default: "3",
        used: true,
        doc: "Wait after the posture becomes known before the first state sync probe, so that the new dACL is in place; also the wait before confirming a suspected dACL misconfiguration.",
        note: "",
    },
    KeyDef {
        name: "DartCount",
        ty: KeyType::Count { min: 0, max: 100 },
        default: "3",
        used: true,
        doc: "How many automatically collected diagnostic bundles are kept; the oldest go first. 0 keeps none.",
        note: "range 0-100 chosen by posture-sync (the vendor gives none)",
    },
    KeyDef {
        name: "CallHomeList",
        ty: KeyType::HostList {
            default_port: DISCOVERY_PORT,
        },
        default: "",
        used: true,
        doc: "PSNs to contact for discovery, comma-separated `host` or `host:port`, tried after the PSNs that served this endpoint before and the DiscoveryHost.",
        note: "",
    },
    KeyDef {
        name: "DiscoveryHost",
        ty: KeyType::HostPort {
            default_port: DISCOVERY_PORT,
        },
        default: "",
        used: true,
        doc: "The first host to contact for discovery (`host` or `host:port`). Empty: none.",
        note: "",
    },
    KeyDef {
        name: "ServerNameRules",
        ty: KeyType::NamePatterns,
        default: "",
        used: true,
        doc: "Which PSN host names the agent accepts: comma-separated patterns with `*` wildcards, compared without regard to case (e.g. `*.corp.example.com`). `*` matches within one DNS label; a leading `*.` matches one or more labels; IP addresses match only patterns naming them exactly. A lone `*` accepts any host. Empty: only the hosts the profile itself names (DiscoveryHost, CallHomeList, PostureProbingBackupList) and the other hosts of their DNS domains (`psn1.corp.example` allows `*.corp.example`); an address allows only itself.",
        note: "posture-sync's safe default for an empty value (the vendor accepts any host); `profile check` prints the derived patterns",
    },
    KeyDef {
        name: "ServerPorts",
        ty: KeyType::PortRanges,
        default: "8000-8999",
        used: true,
        doc: "TCP ports a PSN may name for state sync (the discovery reply's `<psn>` and `<psnList>`): a target on any other port is never probed, so a PSN cannot aim the endpoint at other services. Ports the profile itself names (PostureProbingBackupList, DiscoveryHost, CallHomeList) are always allowed.",
        note: "posture-sync's key; the default is the range ISE uses for its state sync port",
    },
    KeyDef {
        name: "ContentCheckPaths",
        ty: KeyType::PathList,
        default: "",
        used: true,
        doc: "Absolute path prefixes under which posture checks may read file contents (`file-contains`, `file-sha256`) and may look inside the places that are otherwise off limits to every check (home directories, /proc, /sys, /dev, the agent's own directories). Set locally by the administrator, never by a server. Empty: no `file-contains` check runs, `file-sha256` reads only outside the off-limits places.",
        note: "posture-sync's key (docs/agent.md, \"What a PSN can learn\")",
    },
    KeyDef {
        name: "LogFileSize",
        ty: KeyType::Megabytes { min: 1, max: 100 },
        default: "5",
        used: true,
        doc: "Size of one agent log file before it is rotated.",
        note: "range 1-100 MB chosen by posture-sync",
    },
    KeyDef {
        name: "RemediationTimer",
        ty: KeyType::Minutes { min: 1, max: 300 },
        default: "4",
        used: false,
        doc: "Time the user has to remediate a non-compliant endpoint in the vendor agent before it is marked non-compliant.",
        note: "",
    },
    KeyDef {
        name: "OperateOnNonDot1XWireless",
        ty: KeyType::Bool01,
        default: "0",
        used: false,
        doc: "Whether the vendor agent runs posture on wireless networks without 802.1X.",
        note: "",
    },
    KeyDef {
        name: "NonCompliantButtonText",
        ty: KeyType::Text,
        default: "",
        used: false,
        doc: "Label of the button shown to a non-compliant user.",
        note: "",
    },
    KeyDef {
        name: "NonCompliantButtonLink",
        ty: KeyType::Text,
        default: "",
        used: false,
        doc: "Link opened by the non-compliant button.",
        note: "",
    },
    KeyDef {
        name: "NonCompliantTitle",
        ty: KeyType::Text,
        default: "",
        used: false,
        doc: "Title of the non-compliance notice.",
        note: "",
    },
    KeyDef {
        name: "NonCompliantDescriptionDetails",
        ty: KeyType::Text,
        default: "",
        used: false,
        doc: "Body text of the non-compliance notice.",
        note: "",
    },
    KeyDef {
        name: "GracePeriodStartDescription",
        ty: KeyType::Text,
        default: "",
        used: false,
        doc: "Heading shown when a grace period starts.",
        note: "",
    },
    KeyDef {
        name: "GracePeriodStartDescriptionDetails",
        ty: KeyType::Text,
        default: "",
        used: false,
        doc: "Body text shown when a grace period starts.",
        note: "",
    },
    KeyDef {
        name: "WarningTimer",
        ty: KeyType::Minutes { min: 0, max: 1440 },
        default: "0",
        used: false,
        doc: "How many minutes before the end of the grace period the warning is shown; 0 shows none.",
        note: "range 0-1440 min (one day) chosen by posture-sync",
    },
    KeyDef {
        name: "DhcpRenewDelay",
        ty: KeyType::Seconds { min: 0, max: 60 },
        default: "1",
        used: false,
        doc: "Wait before the vendor agent renews the DHCP lease after a VLAN change.",
        note: "range 0-60 s chosen by posture-sync; default from the vendor's stock profile",
    },
    KeyDef {
        name: "DhcpReleaseDelay",
        ty: KeyType::Seconds { min: 0, max: 60 },
        default: "4",
        used: false,
        doc: "Wait before the vendor agent releases the DHCP lease after a VLAN change.",
        note: "range 0-60 s chosen by posture-sync; default from the vendor's stock profile",
    },
    KeyDef {
        name: "PRARetransmissionTime",
        ty: KeyType::Seconds { min: 0, max: 3600 },
        default: "120",
        used: false,
        doc: "Retransmission time of periodic reassessment (PRA) reports.",
        note: "range 0-3600 s chosen by posture-sync",
    },
    KeyDef {
        name: "EnableAgentIpRefresh",
        ty: KeyType::Bool01,
        default: "0",
        used: false,
        doc: "Whether the vendor agent refreshes the endpoint's IP address after posture.",
        note: "",
    },
    KeyDef {
        name: "CwaByodProbingInterval",
        ty: KeyType::Seconds { min: 0, max: 300 },
        default: "10",
        used: false,
        doc: "Probe interval of the vendor agent in CWA/BYOD flows.",
        note: "range 0-300 s chosen by posture-sync",
    },
    KeyDef {
        name: "PingArp",
        ty: KeyType::Choice { max: 2 },
        default: "0",
        used: false,
        doc: "How the vendor agent checks the gateway after a VLAN change: 0 ping, 1 ARP, 2 both.",
        note: "codes as understood by posture-sync",
    },
    KeyDef {
        name: "VlanDetectInterval",
        ty: KeyType::Seconds { min: 0, max: 900 },
        default: "0",
        used: false,
        doc: "Interval of the vendor agent's VLAN change detection; 0 disables it.",
        note: "range 0-900 s chosen by posture-sync",
    },
    KeyDef {
        name: "StealthWithNotification",
        ty: KeyType::Bool01,
        default: "0",
        used: false,
        doc: "Whether a stealth-mode vendor agent still shows notifications.",
        note: "",
    },
    KeyDef {
        name: "SignatureCheck",
        ty: KeyType::Bool01,
        default: "0",
        used: false,
        doc: "Whether the vendor agent checks signatures of remediation executables.",
        note: "",
    },
    KeyDef {
        name: "EnableRescanButton",
        ty: KeyType::Bool01,
        default: "0",
        used: false,
        doc: "Whether the vendor agent's UI offers a rescan button.",
        note: "",
    },
    KeyDef {
        name: "DisableUAC",
        ty: KeyType::Bool01,
        default: "0",
        used: false,
        doc: "Whether the vendor agent suppresses Windows UAC prompts during remediation.",
        note: "",
    },
];

/// Look a key up by its exact (case-sensitive) name.
pub fn find(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}

/// A known key whose name differs from `name` only in letter case, for a
/// "did you mean" hint on unknown keys.
pub fn find_ignoring_case(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name.eq_ignore_ascii_case(name))
}
