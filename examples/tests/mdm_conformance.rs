//! psn-lab's MDM client and poller against mdm-lab (both in process, real TLS
//! on loopback): server info, batching at query_max_size, the compliance cache
//! expiration, a changed verdict becoming a CoA, the report decision honouring
//! the MDM, and every failure class of `mdm test` with its diagnosis.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
mod mdm_support;

use std::time::{Duration, Instant};

use test_support::wait_until_async;

use common::{ALL_PASS, Lab, report_xml};
use mdm_support::{MdmLab, PASSWORD, device, macs, seed};
use posture_protocol::PostureStatus;
use psn_lab::mdm::diagnose::{FailureClass, class, report_failure, test_connection};
use psn_lab::mdm::poller::Poller;
use psn_lab::mdm::{MdmClient, Verdict};

fn poller(lab: &Lab, mdm: &MdmLab, tweak: impl FnOnce(&mut psn_lab::mdm::MdmSettings)) -> Poller {
    let mut s = mdm.settings();
    tweak(&mut s);
    Poller::new(MdmClient::new(s).unwrap(), lab.lab.state.clone())
}

#[tokio::test]
async fn server_info_is_read_and_an_old_api_version_is_refused() {
    let lab = Lab::start(&["psn1"]).await;
    let mdm = MdmLab::start(lab.dir.path(), vec![], |c| c.query_max_size = 250).await;
    let info = test_connection(&mdm.settings()).await.unwrap();
    assert_eq!(info.api_version, 3);
    assert_eq!(info.query_max_size, 250);
    assert_eq!(info.api_path, "/networkIntegrationEndpoint/lab/ciscoise/v3");
    assert_eq!(info.vendor, "posture-sync lab");
    assert!(!info.product_name.is_empty() && !info.product_version.is_empty());
    assert!(info.redirect_url.starts_with("https://"));

    mdm.fault("old-api", "info", 0).await;
    let f = test_connection(&mdm.settings()).await.unwrap_err();
    assert_eq!(class(&f.error), FailureClass::ApiVersion);
    let text = report_failure(&f, &mdm.settings());
    assert!(
        text.contains("API version 2") && text.contains("version 3"),
        "{text}"
    );
}

/// A lab and an mdm-lab (its config tweaked by `tweak`) with `n` endpoints
/// that both hold Compliant: the MDM's devices and the lab's sessions; their
/// MACs.
async fn compliant_everywhere(
    n: usize,
    tweak: impl FnOnce(&mut psn_lab::mdmlab::server::MdmLabConfig),
) -> (Lab, MdmLab, Vec<String>) {
    let lab = Lab::start(&["psn1"]).await;
    let all = macs(n);
    let mdm = MdmLab::start(
        lab.dir.path(),
        all.iter().map(|m| device(m, true)).collect(),
        tweak,
    )
    .await;
    for m in &all {
        seed(&lab.lab, m, PostureStatus::Compliant);
    }
    (lab, mdm, all)
}

#[tokio::test]
async fn device_queries_are_batched_at_query_max_size() {
    let (lab, mdm, all) = compliant_everywhere(7, |c| c.query_max_size = 3).await;
    let p = poller(&lab, &mdm, |_| {});
    let out = p.poll_once(Instant::now()).await.unwrap();
    assert_eq!((out.queries, out.asked), (3, 7));
    let stats = mdm.stats().await;
    let mut sizes: Vec<u64> = stats["batch_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![1, 3, 3]);
    assert_eq!(stats["oversized_queries"], 0);
    let mut asked: Vec<String> = stats["asked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    asked.sort();
    let mut expected: Vec<String> = all
        .iter()
        .map(|m| psn_lab::mdm::xml::mac_for_mdm(m))
        .collect();
    expected.sort();
    assert_eq!(
        asked, expected,
        "every session asked once, as 12 upper-case hex digits"
    );
    for m in &all {
        assert_eq!(
            lab.lab.state.mdm.verdict(m).unwrap().verdict,
            Verdict::Compliant
        );
    }
}

#[tokio::test]
async fn verdicts_are_cached_until_the_expiration() {
    let (lab, mdm, _) = compliant_everywhere(4, |_| {}).await;
    // The poller takes its clock from the caller, so expiry is checked without sleeping.
    let p = poller(&lab, &mdm, |s| s.cache_expiration = Duration::from_secs(60));
    let t0 = Instant::now();
    assert_eq!(p.poll_once(t0).await.unwrap().asked, 4);
    let within = p.poll_once(t0 + Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (within.queries, within.asked),
        (0, 0),
        "fresh verdicts are not asked again"
    );
    // A new session has no verdict yet: only it is asked.
    let newcomer = macs(5).pop().unwrap();
    seed(&lab.lab, &newcomer, PostureStatus::Unknown);
    assert_eq!(
        p.poll_once(t0 + Duration::from_secs(31))
            .await
            .unwrap()
            .asked,
        1
    );
    let expired = p.poll_once(t0 + Duration::from_secs(61)).await.unwrap();
    assert_eq!(
        expired.asked, 4,
        "the first four expired, the newcomer is still fresh"
    );
    assert_eq!(mdm.stats().await["device_queries"], 3);
    // The newcomer is unknown to the MDM: not registered.
    assert_eq!(
        lab.lab.state.mdm.verdict(&newcomer).unwrap().verdict,
        Verdict::NotRegistered
    );
}

#[tokio::test]
async fn a_changed_verdict_is_a_coa_and_the_mdm_outweighs_the_report() {
    let lab = Lab::start(&["psn1"]).await;
    let mac = "02:00:5e:00:53:01";
    let mdm = MdmLab::start(
        lab.dir.path(),
        vec![device(mac, true), device("02:00:5e:00:53:02", true)],
        |_| {},
    )
    .await;
    let s = seed(&lab.lab, mac, PostureStatus::Compliant);
    let other = seed(&lab.lab, "02:00:5e:00:53:02", PostureStatus::Compliant);
    let p = poller(&lab, &mdm, |s| s.cache_expiration = Duration::from_secs(60));
    let t0 = Instant::now();
    let first = p.poll_once(t0).await.unwrap();
    assert!(first.coas.is_empty(), "compliant and Compliant agree");
    assert_eq!(
        lab.lab.state.sessions.get(&s.id).unwrap().status,
        PostureStatus::Compliant
    );

    mdm.flip(mac, false, "FileVault is off").await;
    let cached = p.poll_once(t0 + Duration::from_secs(10)).await.unwrap();
    assert!(cached.coas.is_empty(), "the cached verdict is still fresh");
    let out = p.poll_once(t0 + Duration::from_secs(61)).await.unwrap();
    assert_eq!(out.coas.len(), 1, "{out:?}");
    let coa = &out.coas[0];
    assert_eq!(
        (coa.from, coa.to),
        (PostureStatus::Compliant, PostureStatus::Unknown)
    );
    assert!(
        coa.reason.contains("non-compliant") && coa.reason.contains("FileVault is off"),
        "{}",
        coa.reason
    );
    assert_eq!(
        lab.lab.state.sessions.get(&s.id).unwrap().status,
        PostureStatus::Unknown
    );
    assert_eq!(
        lab.lab.state.sessions.get(&other.id).unwrap().status,
        PostureStatus::Compliant
    );
    let view = lab.admin.ok(http::Method::GET, "/mdm", None).await.unwrap();
    assert_eq!(view["coas"], 1, "{view}");
    assert_eq!(view["name"], "JAMF_LAB");
    assert!(!view.to_string().contains(PASSWORD));

    // The agent re-assesses and passes every requirement: the MDM's verdict wins.
    let client = lab.client();
    let r = client
        .report(
            lab.disc("psn1"),
            s.id.as_str(),
            &report_xml(s.id.as_str(), ALL_PASS),
        )
        .await;
    assert_eq!(r.status, http::StatusCode::OK);
    let result = posture_protocol::PostureResult::from_xml(&r.body).unwrap();
    assert_eq!(result.status, PostureStatus::NonCompliant);

    // Compliant again at the MDM: a CoA reopens the reassessment, which passes.
    mdm.flip(mac, true, "").await;
    let back = p.poll_once(t0 + Duration::from_secs(122)).await.unwrap();
    assert_eq!(back.coas.len(), 1, "{back:?}");
    assert_eq!(back.coas[0].from, PostureStatus::NonCompliant);
    let r = client
        .report(
            lab.disc("psn1"),
            s.id.as_str(),
            &report_xml(s.id.as_str(), ALL_PASS),
        )
        .await;
    let result = posture_protocol::PostureResult::from_xml(&r.body).unwrap();
    assert_eq!(result.status, PostureStatus::Compliant);
}

#[tokio::test]
async fn the_background_poller_applies_a_flip() {
    let mac = "02:00:5e:00:53:01";
    let dir = tempfile::tempdir().unwrap();
    // mdm-lab first, in the lab directory, so psn-lab's config can point at it.
    let mdm = MdmLab::start(dir.path(), vec![device(mac, true)], |_| {}).await;
    let mut settings = mdm.settings();
    settings.cache_expiration = Duration::from_millis(200);
    let mut config = psn_lab::config::LabConfig::loopback(dir.path(), &["psn1"]);
    config.mdm = Some(settings);
    let lab = psn_lab::server::start(config).await.unwrap();
    let s = seed(&lab, mac, PostureStatus::Compliant);
    let mdm_status = || format!("{:?}", lab.state.mdm.status());
    wait_until_async(
        "a verdict",
        || async { lab.state.mdm.verdict(mac) },
        mdm_status,
    )
    .await;
    mdm.flip(mac, false, "jailbroken").await;
    wait_until_async(
        "the CoA",
        || async {
            (lab.state.sessions.get(&s.id).unwrap().status == PostureStatus::Unknown).then_some(())
        },
        mdm_status,
    )
    .await;
    assert_eq!(lab.state.mdm.status().coas, 1);
    lab.shutdown().await;
}

async fn failure(settings: &psn_lab::mdm::MdmSettings) -> (FailureClass, String) {
    let f = test_connection(settings).await.unwrap_err();
    let text = report_failure(&f, settings);
    assert!(!text.contains(&settings.password), "password shown: {text}");
    assert!(text.contains("URL tried  https://ise@"), "{text}");
    (class(&f.error), text)
}

#[tokio::test]
async fn each_failure_class_has_its_diagnosis() {
    let lab = Lab::start(&["psn1"]).await;
    let mdm = MdmLab::start(lab.dir.path(), vec![], |_| {}).await;

    // 404: the instance name is wrong or missing.
    let mut s = mdm.settings();
    s.instance = "/networkIntegrationEndpoint".into();
    let (c, text) = failure(&s).await;
    assert_eq!(c, FailureClass::NotFound);
    assert!(
        text.contains("404") && text.contains("instance name"),
        "{text}"
    );
    assert!(
        text.contains("/networkIntegrationEndpoint/ciscoise/mdminfo/"),
        "{text}"
    );

    // 401: wrong password, then an MDM that refuses basic authentication.
    let mut s = mdm.settings();
    s.password = "not-the-password".into();
    let (c, text) = failure(&s).await;
    assert_eq!(c, FailureClass::Unauthorized);
    assert!(
        text.contains("user exists")
            && text.contains("privileges")
            && text.contains("basic authentication"),
        "{text}"
    );
    mdm.fault("unauthorized", "all", 0).await;
    assert_eq!(failure(&mdm.settings()).await.0, FailureClass::Unauthorized);
    mdm.fault("none", "all", 0).await;

    // Slow past the device compliance timeout.
    mdm.fault("slow", "info", 3_000).await;
    let mut s = mdm.settings();
    s.compliance_timeout = Duration::from_millis(300);
    let (c, text) = failure(&s).await;
    assert_eq!(c, FailureClass::Timeout);
    assert!(text.contains("device_compliance_timeout_ms"), "{text}");
    mdm.fault("none", "all", 0).await;

    // TLS: a CA that did not issue the MDM's certificate.
    let other = tempfile::tempdir().unwrap();
    psn_lab::certs::create(&psn_lab::certs::CertRequest {
        dir: other.path().to_owned(),
        ..Default::default()
    })
    .unwrap();
    let mut s = mdm.settings();
    s.ca_file = other.path().join("ca.pem");
    let (c, text) = failure(&s).await;
    assert_eq!(c, FailureClass::Tls);
    assert!(text.contains("unknown issuer"), "{text}");

    // Connection refused: nothing listens.
    // Bound but not listening: refused, and no other test can take the port meanwhile.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let mut s = mdm.settings();
    s.port = port;
    let (c, text) = failure(&s).await;
    assert_eq!(c, FailureClass::ConnectFailed);
    assert!(text.contains("refused"), "{text}");
    assert!(text.contains(&format!("localhost:{port}")), "{text}");

    // A server that accepts TCP but never speaks TLS: the handshake runs into
    // the device compliance timeout (a real SYN timeout: see the next test).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = mdm.settings();
    s.port = silent.local_addr().unwrap().port();
    s.compliance_timeout = Duration::from_millis(300);
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
        }
    });
    assert_eq!(failure(&s).await.0, FailureClass::Timeout);
    hold.abort();

    // A malformed server info.
    mdm.fault("malformed", "info", 0).await;
    let (c, text) = failure(&mdm.settings()).await;
    assert_eq!(c, FailureClass::BadReply);
    assert!(text.contains("malformed XML"), "{text}");
}

#[tokio::test]
async fn a_tls_name_mismatch_is_named() {
    let lab = Lab::start(&["psn1"]).await;
    // mdm.pem issued by the lab CA for another name; mdm-lab keeps an existing certificate.
    psn_lab::certs::create(&psn_lab::certs::CertRequest {
        dir: lab.dir.path().to_owned(),
        nodes: vec!["mdm".into()],
        san_only: vec!["not-this-host.example".into()],
        force: true,
        ..Default::default()
    })
    .unwrap();
    let mdm = MdmLab::start(lab.dir.path(), vec![], |_| {}).await;
    let (c, text) = failure(&mdm.settings()).await;
    assert_eq!(c, FailureClass::Tls);
    assert!(text.contains("does not name localhost"), "{text}");
}

#[tokio::test]
async fn a_tcp_connect_timeout_is_diagnosed() {
    // A listener whose accept queue is full: Linux drops further SYNs, so the
    // connect times out as it does behind a firewall that drops, on loopback.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let lab = Lab::start(&["psn1"]).await;
    let mdm = MdmLab::start(lab.dir.path(), vec![], |_| {}).await;
    let mut s = mdm.settings();
    s.host = "127.0.0.1".into();
    s.port = addr.port();
    s.connect_timeout = Duration::from_millis(500);
    let (c, text) = failure(&s).await;
    assert_eq!(c, FailureClass::ConnectTimeout, "{text}");
    assert!(
        text.contains("no route")
            && text.contains("firewall")
            && text.contains("IP address")
            && text.contains("proxy"),
        "{text}"
    );
    drop(listener);
}
