//! Shared by the mdm_* tests: an in-process mdm-lab on loopback port 0 sharing
//! the lab CA of an in-process psn-lab, and MDM settings pointing at it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use posture_protocol::PostureStatus;
use psn_lab::ctl::AdminClient;
use psn_lab::mdm::config::{DeviceIdentifier, MdmSettings};
use psn_lab::mdmlab::inventory::{Device, Inventory};
use psn_lab::mdmlab::server::{MdmLabConfig, RunningMdm};
use psn_lab::sessions::SeedSpec;
use serde_json::{Value, json};

pub const PASSWORD: &str = "lab-password";

/// A running mdm-lab and a client of its admin API.
pub struct MdmLab {
    pub mdm: RunningMdm,
    pub admin: AdminClient,
}

/// A device with a MAC and a compliance.
pub fn device(mac: &str, compliant: bool) -> Device {
    Device {
        mac: Some(mac.into()),
        guid: None,
        registered: true,
        compliant,
        reason: None,
    }
}

/// `n` distinct MACs 02:00:5e:10:xx:yy.
pub fn macs(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("02:00:5e:10:{:02x}:{:02x}", i / 256, i % 256))
        .collect()
}

impl MdmLab {
    /// Starts mdm-lab in `dir` (the psn-lab lab directory: same CA).
    pub async fn start(
        dir: &Path,
        devices: Vec<Device>,
        tweak: impl FnOnce(&mut MdmLabConfig),
    ) -> MdmLab {
        let mut config = MdmLabConfig::loopback(dir);
        tweak(&mut config);
        let mdm = psn_lab::mdmlab::server::start(config, Inventory::from_devices(devices).unwrap())
            .await
            .unwrap();
        let admin = AdminClient::new(mdm.ready.admin, mdm.token.clone());
        MdmLab { mdm, admin }
    }

    pub fn addr(&self) -> SocketAddr {
        self.mdm.ready.listen
    }

    /// psn-lab's MDM settings for this mdm-lab (host localhost, fast lab values).
    pub fn settings(&self) -> MdmSettings {
        MdmSettings {
            name: "JAMF_LAB".into(),
            host: "localhost".into(),
            port: self.addr().port(),
            instance: self.mdm.ready.instance.clone(),
            username: "ise".into(),
            password: PASSWORD.into(),
            polling_interval: Duration::from_millis(300),
            compliance_timeout: Duration::from_millis(5_000),
            cache_expiration: Duration::from_secs(60),
            enabled: true,
            identifiers: vec![DeviceIdentifier::LegacyMac],
            ca_file: self.mdm.ready.ca.clone(),
            proxy: None,
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub async fn stats(&self) -> Value {
        self.admin
            .ok(http::Method::GET, "/stats", None)
            .await
            .unwrap()
    }

    pub async fn fault(&self, mode: &str, scope: &str, slow_ms: u64) {
        self.admin
            .ok(
                http::Method::POST,
                "/fault",
                Some(json!({ "mode": mode, "scope": scope, "slow_ms": slow_ms })),
            )
            .await
            .unwrap();
    }

    pub async fn flip(&self, mac: &str, compliant: bool, reason: &str) {
        self.admin
            .ok(
                http::Method::POST,
                &format!("/devices/{mac}/compliance"),
                Some(json!({ "compliant": compliant, "reason": reason })),
            )
            .await
            .unwrap();
    }
}

/// Seeds a session for `mac` with `status` in a running psn-lab.
pub fn seed(
    lab: &psn_lab::server::RunningLab,
    mac: &str,
    status: PostureStatus,
) -> psn_lab::sessions::Session {
    lab.state
        .sessions
        .seed(
            &SeedSpec {
                mac: mac.into(),
                status,
                node: None,
                endpoint: None,
                id: None,
            },
            "psn1",
            "127.0.0.1".parse().unwrap(),
        )
        .unwrap()
}
