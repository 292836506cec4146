//! What psn-lab and mdm-lab share: TLS ([`tls`], [`certs`]), request bodies
//! ([`body`]), files ([`fsutil`], [`ready`]), the error type ([`error`]), and the
//! server skeleton both lab servers are built on: [`lab_server`] (listeners, TLS,
//! connections, ready file, shutdown), [`admin_http`] (the admin APIs' loop,
//! token and replies), [`ctl`] (the admin API client), [`lab_main`] and
//! [`lab_cli`] (what both binaries do around their commands).

pub mod admin_http;
pub mod body;
pub mod certs;
pub mod ctl;
pub mod error;
pub mod fsutil;
pub mod lab_cli;
pub mod lab_main;
pub mod lab_server;
pub mod ready;
pub mod tls;
