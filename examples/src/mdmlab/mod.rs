//! mdm-lab: a JAMF-style MDM for the lab. It serves the network integration
//! endpoint (server info and device queries of the MDM API, version 3) over
//! TLS with basic authentication, from a device inventory file, with an admin
//! API on loopback to flip a device's compliance and to switch fault modes.
//! See docs/mdm.md.

pub mod admin;
pub mod cli;
pub mod faults;
pub mod inventory;
pub mod server;
pub mod service;
