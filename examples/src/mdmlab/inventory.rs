//! mdm-lab's device inventory: a JSON file of devices with their compliance.
//!
//! ```json
//! { "devices": [
//!   { "mac": "02:00:5e:00:53:01", "compliant": true },
//!   { "guid": "7C2A1E0B-...", "compliant": false, "reason": "FileVault is off" },
//!   { "mac": "02:00:5e:00:53:09", "registered": false }
//! ] }
//! ```

use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::common::error::LabError;
use crate::common::fsutil;
use crate::psn::mdm::xml::{DeviceRecord, Verdict, mac_for_mdm};

/// One managed device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The device's MAC (any common notation).
    #[serde(default)]
    pub mac: Option<String>,
    /// The device's GUID (as in its certificate).
    #[serde(default)]
    pub guid: Option<String>,
    /// Enrolled with the MDM (default true).
    #[serde(default = "yes")]
    pub registered: bool,
    /// Compliant with the MDM's policies (default true).
    #[serde(default = "yes")]
    pub compliant: bool,
    /// Why not compliant.
    #[serde(default)]
    pub reason: Option<String>,
}

fn yes() -> bool {
    true
}

/// The inventory file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// Devices.
    pub devices: Vec<Device>,
}

impl Device {
    /// The MDM-form MAC (12 upper-case hex digits), if the device has a valid MAC.
    pub fn mdm_mac(&self) -> Option<String> {
        self.mac
            .as_deref()
            .and_then(posture_protocol::normalize_mac)
            .map(|m| mac_for_mdm(&m))
    }

    fn matches(&self, criteria: &str, id: &str) -> bool {
        match criteria {
            "macaddress" => self.mdm_mac().is_some_and(|m| m.eq_ignore_ascii_case(id)),
            "guid" => self
                .guid
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(id)),
            _ => false,
        }
    }

    fn verdict(&self) -> Verdict {
        match (self.registered, self.compliant) {
            (false, _) => Verdict::NotRegistered,
            (true, true) => Verdict::Compliant,
            (true, false) => Verdict::NonCompliant,
        }
    }
}

/// The inventory in memory.
#[derive(Debug, Default)]
pub struct Inventory {
    devices: Mutex<Vec<Device>>,
}

impl Inventory {
    /// Loads and checks an inventory file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let text = fsutil::read_text(path, "inventory file")?;
        let file: InventoryFile = serde_json::from_str(&text)
            .map_err(|e| LabError::Config(format!("inventory file {}: {e}", path.display())))?;
        Self::from_devices(file.devices)
            .map_err(|m| LabError::Config(format!("inventory file {}: {m}", path.display())))
    }

    /// An inventory of these devices (each needs a valid MAC or a GUID).
    pub fn from_devices(devices: Vec<Device>) -> Result<Self, String> {
        for (i, d) in devices.iter().enumerate() {
            if d.mac.is_some() && d.mdm_mac().is_none() {
                return Err(format!(
                    "device {i}: mac {:?} is not a MAC address (expected aa:bb:cc:dd:ee:ff)",
                    d.mac.as_deref().unwrap_or_default()
                ));
            }
            if d.mac.is_none() && d.guid.as_deref().is_none_or(str::is_empty) {
                return Err(format!("device {i}: give a \"mac\" or a \"guid\""));
            }
        }
        Ok(Inventory {
            devices: Mutex::new(devices),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Device>> {
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every device.
    pub fn list(&self) -> Vec<Device> {
        self.lock().clone()
    }

    /// The records of the devices asked for that the MDM knows.
    pub fn query(&self, criteria: &str, ids: &[String]) -> Vec<DeviceRecord> {
        let devices = self.lock();
        ids.iter()
            .filter_map(|id| {
                devices
                    .iter()
                    .find(|d| d.matches(criteria, id))
                    .map(|d| DeviceRecord {
                        id: id.clone(),
                        verdict: d.verdict(),
                        reason: (d.verdict() == Verdict::NonCompliant)
                            .then(|| d.reason.clone().unwrap_or_else(|| "non-compliant".into())),
                    })
            })
            .collect()
    }

    /// Sets a device's compliance (by MAC in any notation, or GUID); the device after.
    pub fn set_compliance(
        &self,
        id: &str,
        compliant: bool,
        reason: Option<String>,
    ) -> Option<Device> {
        let mut devices = self.lock();
        let key = posture_protocol::normalize_mac(id).map(|m| mac_for_mdm(&m));
        let d = devices.iter_mut().find(|d| match &key {
            Some(mac) => d.mdm_mac().as_deref() == Some(mac.as_str()),
            None => d
                .guid
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(id)),
        })?;
        d.compliant = compliant;
        d.reason = if compliant { None } else { reason };
        Some(d.clone())
    }

    /// Adds (or replaces, by MAC or GUID) a device.
    pub fn upsert(&self, device: Device) -> Result<(), String> {
        let checked = Self::from_devices(vec![device.clone()])?;
        drop(checked);
        let mut devices = self.lock();
        devices.retain(|d| {
            !(d.mdm_mac().is_some() && d.mdm_mac() == device.mdm_mac()
                || d.guid.is_some() && d.guid == device.guid)
        });
        devices.push(device);
        Ok(())
    }
}
