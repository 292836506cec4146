//! psn-lab, the reference PSN: [`app`] is the PSN as a function of (state,
//! request), testable without a socket; [`server`] adds sockets, TLS and the
//! dACL emulation; [`admin`] is the admin API; [`cli`] and [`config`] turn the
//! command line and config file into a lab; [`policy`], [`sessions`],
//! [`alarms`] and [`faults`] hold the parts; [`mdm`] is the client of an
//! external MDM (ISE's "External MDM"); [`nad`] emulates the switch's URL
//! redirect.

pub mod admin;
pub mod alarms;
pub mod app;
pub mod cli;
pub mod config;
pub mod faults;
pub mod mdm;
pub mod nad;
pub mod policy;
pub mod server;
pub mod sessions;
