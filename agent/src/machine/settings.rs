//! The few profile values the state machine acts on, as a plain struct built
//! from a [`Profile`], so that machine tests need no XML.

use std::time::Duration;

use profile_schema::{HostPort, PortRanges, Profile, ServerNameRules};

use crate::timing::{Backoff, ProbeInterval, TimingError, TransitionDelay};

/// What the machine needs from the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// StateSyncProbeInterval; `None` when state sync is disabled (0 or absent).
    pub sync: Option<ProbeInterval>,
    /// NetworkTransitionDelay.
    pub transition_delay: TransitionDelay,
    /// PostureProbingBackupList (ports already defaulted to 8449).
    pub probing_backup_list: Vec<HostPort>,
    /// DiscoveryHost (port already defaulted to 8443).
    pub discovery_host: Option<HostPort>,
    /// CallHomeList (ports already defaulted to 8443).
    pub call_home_list: Vec<HostPort>,
    /// ServerNameRules as applied (derived from the profile's hosts when
    /// the key is empty): every discovery and probe target must match.
    pub server_name_rules: ServerNameRules,
    /// ServerPorts: the ports a server may name for state sync.
    pub server_ports: PortRanges,
    /// Whether discovery's stage 1 asks the default gateway (the switch's
    /// URL redirect). No profile key: on for a real profile, as in the
    /// vendor agent ([`Settings::from_profile`]); the daemon turns it off
    /// under `run --gateway off`.
    pub gateway_discovery: bool,
    /// The start spread: the first discovery after the agent starts (or
    /// a profile gives it something to discover) and after a network
    /// change settles waits a random delay below this, so that a fleet
    /// coming back at the same second (a switch reboot, a building's power)
    /// does not reach the PSNs in the same second (docs/fleet.md).
    /// `Duration::ZERO`: no wait. No profile key: the daemon sets it from
    /// `run --start-spread` ([`START_SPREAD_DEFAULT`]); a rescan never
    /// waits.
    pub start_spread: Duration,
}

/// The start spread of `run` unless `--start-spread` says otherwise
/// ([`Settings::start_spread`], docs/fleet.md).
pub const START_SPREAD_DEFAULT: Duration = Duration::from_secs(5);

/// The longest spread after a settled network change, whatever the start
/// spread: the time-to-rediscover goal allows one second after
/// NetworkTransitionDelay (docs/benchmarks.md).
pub const NETWORK_CHANGE_SPREAD_MAX: Duration = Duration::from_secs(1);

/// The longest start spread `run --start-spread` accepts.
pub const START_SPREAD_MAX: Duration = Duration::from_secs(60);

impl Settings {
    /// Reads the machine's settings from a validated profile.
    ///
    /// The profile crate already range-checks its keys, so an error here means
    /// the two crates disagree about a range; the error names the key.
    pub fn from_profile(profile: &Profile) -> Result<Settings, TimingError> {
        Ok(Settings {
            sync: ProbeInterval::from_profile(profile.state_sync_interval())?,
            transition_delay: TransitionDelay::try_new(profile.network_transition_delay())?,
            probing_backup_list: profile.probing_backup_list(),
            discovery_host: profile.discovery_host(),
            call_home_list: profile.call_home_list(),
            server_name_rules: profile.server_name_rules(),
            server_ports: profile.server_ports(),
            gateway_discovery: true,
            start_spread: Duration::ZERO,
        })
    }

    /// A profile with sync at `interval` (or disabled), default transition
    /// delay, one discovery host and no gateway hop, no start spread, any
    /// host name and port allowed: handy for tests and for building settings by hand.
    pub fn minimal(sync: Option<ProbeInterval>, discovery_host: HostPort) -> Settings {
        Settings {
            sync,
            transition_delay: TransitionDelay::DEFAULT,
            probing_backup_list: Vec::new(),
            discovery_host: Some(discovery_host),
            call_home_list: Vec::new(),
            server_name_rules: ServerNameRules::default(),
            server_ports: PortRanges::parse("1-65535").unwrap_or_else(|_| PortRanges::none()),
            gateway_discovery: false,
            start_spread: Duration::ZERO,
        }
    }

    /// The discovery backoff for these settings (capped at the interval, or
    /// 60 s when sync is disabled).
    pub fn backoff(&self) -> Backoff {
        Backoff::for_sync(self.sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn settings_come_from_the_profile() {
        let loaded = Profile::parse(
            "<cfg><StateSyncProbeInterval>10</StateSyncProbeInterval>\
             <NetworkTransitionDelay>10</NetworkTransitionDelay>\
             <DiscoveryHost>ise.lab.test</DiscoveryHost>\
             <CallHomeList>psn1.lab.test,psn2.lab.test:9443</CallHomeList>\
             <PostureProbingBackupList>psn1.lab.test</PostureProbingBackupList>\
             <ServerNameRules>*.lab.test</ServerNameRules></cfg>",
        )
        .unwrap();
        let s = Settings::from_profile(&loaded.profile).unwrap();
        assert_eq!(
            s.sync.map(ProbeInterval::get),
            Some(Duration::from_secs(10))
        );
        assert_eq!(s.transition_delay.get(), Duration::from_secs(10));
        assert_eq!(s.discovery_host.as_ref().map(|h| h.port()), Some(8443));
        assert_eq!(s.call_home_list.len(), 2);
        assert_eq!(s.call_home_list[1].port(), 9443);
        assert_eq!(s.probing_backup_list[0].port(), 8449);
        assert!(s.server_name_rules.allows("psn9.lab.test"));
        assert!(!s.server_name_rules.allows("evil.example"));
        assert!(
            s.gateway_discovery,
            "a real profile asks the default gateway, as the vendor agent does"
        );
        assert_eq!(s.backoff().cap(), Duration::from_secs(10));
    }

    #[test]
    fn absent_interval_disables_sync() {
        let loaded = Profile::parse("<cfg><DiscoveryHost>ise</DiscoveryHost></cfg>").unwrap();
        let s = Settings::from_profile(&loaded.profile).unwrap();
        assert_eq!(s.sync, None);
        assert_eq!(s.transition_delay, TransitionDelay::DEFAULT);
        assert_eq!(s.backoff().cap(), Duration::from_secs(60));
    }
}
