use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tokio::net::{TcpListener, TcpStream};

use super::*;

fn v4(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), 8449)
}

fn v6(last: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)),
        8449,
    )
}

#[test]
fn interleave_table() {
    let cases: Vec<(Vec<SocketAddr>, Vec<SocketAddr>)> = vec![
        (vec![], vec![]),
        (vec![v4(1)], vec![v4(1)]),
        (vec![v6(1)], vec![v6(1)]),
        // The usual dual-stack answer: IPv6 first, as the resolver put it.
        (vec![v6(1), v4(1)], vec![v6(1), v4(1)]),
        (
            vec![v6(1), v6(2), v4(1), v4(2)],
            vec![v6(1), v4(1), v6(2), v4(2)],
        ),
        // The resolver preferred IPv4: IPv4 leads.
        (vec![v4(1), v6(1), v6(2)], vec![v4(1), v6(1), v6(2)]),
        (
            vec![v4(1), v4(2), v4(3), v6(1)],
            vec![v4(1), v6(1), v4(2), v4(3)],
        ),
        (
            vec![v6(1), v6(2), v6(3), v4(1)],
            vec![v6(1), v4(1), v6(2), v6(3)],
        ),
        (
            vec![v6(1), v4(1), v4(2), v4(3)],
            vec![v6(1), v4(1), v4(2), v4(3)],
        ),
        // Each family keeps the resolver's order.
        (
            vec![v4(3), v6(2), v4(1), v6(9)],
            vec![v4(3), v6(2), v4(1), v6(9)],
        ),
        // Duplicates are tried once, at their first place.
        (vec![v6(1), v4(1), v6(1), v4(1)], vec![v6(1), v4(1)]),
        (vec![v4(1), v4(1), v6(1)], vec![v4(1), v6(1)]),
    ];
    for (input, expected) in cases {
        assert_eq!(interleave(input.clone()), expected, "input {input:?}");
    }
}

/// What [`interleave`] promises, checked against its input.
fn check_order(input: &[SocketAddr], output: &[SocketAddr]) {
    let mut distinct: Vec<SocketAddr> = Vec::new();
    for a in input {
        if !distinct.contains(a) {
            distinct.push(*a);
        }
    }
    // Nothing lost, nothing duplicated.
    assert_eq!(output.len(), distinct.len(), "{input:?} -> {output:?}");
    for a in &distinct {
        assert_eq!(
            output.iter().filter(|o| *o == a).count(),
            1,
            "{a} in {input:?} -> {output:?}"
        );
    }
    let Some(first) = input.first() else {
        return;
    };
    let leads = first.is_ipv6();
    // Each family in the resolver's order.
    for family in [true, false] {
        let want: Vec<_> = distinct.iter().filter(|a| a.is_ipv6() == family).collect();
        let got: Vec<_> = output.iter().filter(|a| a.is_ipv6() == family).collect();
        assert_eq!(got, want, "family order: {input:?} -> {output:?}");
    }
    // Alternating, the first answer's family first, while both last.
    let pairs = distinct
        .iter()
        .filter(|a| a.is_ipv6() == leads)
        .count()
        .min(distinct.iter().filter(|a| a.is_ipv6() != leads).count());
    for (i, a) in output.iter().enumerate() {
        if i < 2 * pairs {
            assert_eq!(
                a.is_ipv6(),
                (i % 2 == 0) == leads,
                "position {i}: {input:?} -> {output:?}"
            );
        }
    }
    let tail_family = output[2 * pairs..].iter().map(|a| a.is_ipv6());
    assert!(
        tail_family
            .clone()
            .all(|f| f == tail_family.clone().next().unwrap_or(f)),
        "one family after the pairs: {input:?} -> {output:?}"
    );
}

#[test]
fn interleave_every_list_of_up_to_five_from_four_addresses() {
    let pool = [v6(1), v4(1), v6(2), v4(2)];
    let mut lists: Vec<Vec<SocketAddr>> = vec![vec![]];
    for _ in 0..5 {
        let longer: Vec<Vec<SocketAddr>> = lists
            .iter()
            .filter(|l| l.len() == lists.last().map_or(0, Vec::len))
            .flat_map(|l| {
                pool.iter().map(move |a| {
                    let mut l = l.clone();
                    l.push(*a);
                    l
                })
            })
            .collect();
        lists.extend(longer);
    }
    assert_eq!(lists.len(), 1 + 4 + 16 + 64 + 256 + 1024);
    for input in &lists {
        check_order(input, &interleave(input.clone()));
    }
}

fn any_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![(0u8..6).prop_map(v4), (0u16..6).prop_map(v6)]
}

proptest! {
    #[test]
    fn interleave_alternates_and_loses_nothing(input in prop::collection::vec(any_addr(), 0..24)) {
        check_order(&input, &interleave(input.clone()));
    }
}

/// A port on 127.0.0.1 that refuses connections.
async fn refused() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

async fn listening() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

fn deadline_in(d: Duration) -> Deadline {
    Deadline::at(Instant::now() + d)
}

/// Generous: the tests wait for events, never for this bound.
const BOUND: Duration = Duration::from_secs(20);
const NEVER: Duration = Duration::from_secs(3600);

/// Notes when it is dropped: an attempt's future, cancelled or finished.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A connector that sends `holes` into a black hole (an attempt that never
/// completes, as a silently dropped SYN) and really connects to the rest;
/// it records the order of the attempts and whether the black-holed ones
/// were dropped.
#[derive(Clone, Default)]
struct Connector {
    holes: Vec<SocketAddr>,
    started: Arc<Mutex<Vec<SocketAddr>>>,
    hole_dropped: Arc<AtomicBool>,
}

impl Connector {
    fn with_holes(holes: &[SocketAddr]) -> Connector {
        Connector {
            holes: holes.to_vec(),
            ..Connector::default()
        }
    }

    fn connect(
        &self,
    ) -> impl FnMut(SocketAddr) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>> + '_
    {
        move |addr| {
            self.started.lock().unwrap().push(addr);
            if self.holes.contains(&addr) {
                let flag = DropFlag(self.hole_dropped.clone());
                Box::pin(async move {
                    let _flag = flag;
                    std::future::pending::<io::Result<TcpStream>>().await
                })
            } else {
                Box::pin(TcpStream::connect(addr))
            }
        }
    }

    fn started(&self) -> Vec<SocketAddr> {
        self.started.lock().unwrap().clone()
    }
}

/// A connector that never touches the network, for tests on tokio's paused
/// clock (where a real connect would race the clock's auto-advance): `holes`
/// never complete, `refusals` fail at once, any other address connects at
/// once (the "stream" is its address). It logs each attempt with the paused
/// clock's time: equal times mean no timer fired between two events.
#[derive(Clone, Default)]
struct Scripted {
    holes: Vec<SocketAddr>,
    refusals: Vec<SocketAddr>,
    started: Arc<Mutex<Vec<(SocketAddr, Instant)>>>,
    hole_dropped: Arc<AtomicBool>,
}

impl Scripted {
    /// Also makes this test's deadlines tokio timers, so that the paused
    /// clock drives them.
    fn new(holes: &[SocketAddr], refusals: &[SocketAddr]) -> Scripted {
        crate::transport::deadline::test_clock::follow_tokio();
        Scripted {
            holes: holes.to_vec(),
            refusals: refusals.to_vec(),
            ..Scripted::default()
        }
    }

    fn connect(
        &self,
    ) -> impl FnMut(SocketAddr) -> Pin<Box<dyn Future<Output = io::Result<SocketAddr>> + Send>> + '_
    {
        move |addr| {
            self.started.lock().unwrap().push((addr, Instant::now()));
            if self.holes.contains(&addr) {
                let flag = DropFlag(self.hole_dropped.clone());
                Box::pin(async move {
                    let _flag = flag;
                    std::future::pending::<io::Result<SocketAddr>>().await
                })
            } else if self.refusals.contains(&addr) {
                Box::pin(std::future::ready(Err(
                    io::ErrorKind::ConnectionRefused.into()
                )))
            } else {
                Box::pin(std::future::ready(Ok(addr)))
            }
        }
    }

    fn started(&self) -> Vec<SocketAddr> {
        self.started.lock().unwrap().iter().map(|s| s.0).collect()
    }

    fn started_at(&self, i: usize) -> Instant {
        self.started.lock().unwrap()[i].1
    }
}

#[tokio::test]
async fn a_refused_address_hands_over_to_the_next_at_once() {
    let (first, (listener, second)) = (refused().await, listening().await);
    // With a delay of an hour only the failure can start the second attempt.
    let won = race(
        &[first, second],
        NEVER,
        &mut deadline_in(BOUND),
        TcpStream::connect,
    )
    .await
    .unwrap();
    assert_eq!((won.addr, won.index), (second, 1));
    let (_accepted, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, won.stream.local_addr().unwrap());
}

#[tokio::test]
async fn a_black_hole_does_not_stop_the_next_address_and_is_dropped() {
    let hole = v6(1);
    let (_listener, good) = listening().await;
    let c = Connector::with_holes(&[hole]);
    let won = race(
        &[hole, good],
        Duration::from_millis(50),
        &mut deadline_in(BOUND),
        c.connect(),
    )
    .await
    .unwrap();
    assert_eq!((won.addr, won.index), (good, 1));
    assert_eq!(c.started(), vec![hole, good]);
    assert!(
        c.hole_dropped.load(Ordering::SeqCst),
        "the losing attempt is cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_starts_the_next_attempt_without_waiting_for_the_delay() {
    // The second attempt starts when the delay passes (the first is
    // black-holed) and fails at once; the third must start on that failure,
    // not when the next delay passes. On the paused clock time moves only
    // when a timer is due, so the third attempt starting at the very instant
    // of the second's failure shows that no timer started it.
    let delay = Duration::from_secs(2);
    let (hole, no, good) = (v6(1), v4(1), v6(2));
    let c = Scripted::new(&[hole], &[no]);
    let won = race(
        &[hole, no, good],
        delay,
        &mut deadline_in(BOUND),
        c.connect(),
    )
    .await
    .unwrap();
    assert_eq!((won.addr, won.index, won.stream), (good, 2, good));
    assert_eq!(c.started(), vec![hole, no, good]);
    assert!(
        c.started_at(1) >= c.started_at(0) + delay,
        "the delay, not the black hole, started the second attempt"
    );
    assert_eq!(
        c.started_at(2),
        c.started_at(1),
        "the third attempt waited for a timer after the second failed"
    );
    assert!(c.hole_dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn the_first_address_wins_when_it_answers_and_no_other_is_tried() {
    let (_l1, good) = listening().await;
    let c = Connector::with_holes(&[]);
    let other = refused().await;
    let won = race(&[good, other], NEVER, &mut deadline_in(BOUND), c.connect())
        .await
        .unwrap();
    assert_eq!((won.addr, won.index), (good, 0));
    assert_eq!(c.started(), vec![good]);
}

#[tokio::test]
async fn addresses_are_tried_in_order_and_all_failures_are_kept() {
    let addrs = [refused().await, refused().await, refused().await];
    let c = Connector::with_holes(&[]);
    let err = race(&addrs, NEVER, &mut deadline_in(BOUND), c.connect())
        .await
        .unwrap_err();
    assert_eq!(c.started(), addrs.to_vec());
    assert_eq!(
        err.failures.iter().map(|f| f.addr).collect::<Vec<_>>(),
        addrs.to_vec()
    );
    assert!(
        err.failures
            .iter()
            .all(|f| f.kind == io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert!(err.untried.is_empty());
    assert_eq!(err.outcome(), Outcome::Blocked(BlockedKind::Refused));
}

#[tokio::test]
async fn the_deadline_ends_the_race_and_names_what_was_not_tried() {
    let (hole, later) = (v6(1), v4(1));
    let c = Connector::with_holes(&[hole, later]);
    let err = race(
        &[hole, later],
        NEVER,
        &mut deadline_in(Duration::from_millis(100)),
        c.connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(c.started(), vec![hole], "the delay never passed");
    assert_eq!(err.failures.len(), 1);
    assert_eq!(err.failures[0].addr, hole);
    assert_eq!(err.failures[0].kind, io::ErrorKind::TimedOut);
    assert_eq!(err.untried, vec![later]);
    assert_eq!(err.outcome(), Outcome::Blocked(BlockedKind::ConnectTimeout));
    assert!(c.hole_dropped.load(Ordering::SeqCst));
    assert!(err.summary().contains("not tried"), "{}", err.summary());
}

#[tokio::test(start_paused = true)]
async fn a_refusal_beats_a_black_hole_when_every_address_fails() {
    // On the paused clock the delay (10 ms) always passes before the
    // deadline (300 ms): the refusal is certain to be tried.
    let (hole, no) = (v6(1), v4(1));
    let c = Scripted::new(&[hole], &[no]);
    let err = race(
        &[hole, no],
        Duration::from_millis(10),
        &mut deadline_in(Duration::from_millis(300)),
        c.connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(c.started(), vec![hole, no]);
    let kinds: Vec<_> = err.failures.iter().map(|f| (f.addr, f.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (hole, io::ErrorKind::TimedOut),
            (no, io::ErrorKind::ConnectionRefused)
        ]
    );
    assert_eq!(err.outcome(), Outcome::Blocked(BlockedKind::Refused));
    assert!(c.hole_dropped.load(Ordering::SeqCst));
}

/// Real IPv6 and IPv4 loopback: `[::1]` refuses, 127.0.0.1 answers; the
/// order is the resolver's (IPv6 first).
#[tokio::test]
async fn real_dual_stack_loopback_falls_back_to_ipv4() {
    let Ok(v6_socket) = TcpListener::bind("[::1]:0").await else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let v6_refused = v6_socket.local_addr().unwrap();
    drop(v6_socket);
    let (_l, v4_good) = listening().await;
    let order = interleave([v6_refused, v4_good]);
    assert_eq!(order, vec![v6_refused, v4_good]);
    let won = race(&order, NEVER, &mut deadline_in(BOUND), TcpStream::connect)
        .await
        .unwrap();
    assert_eq!(won.addr, v4_good);
}

fn failure(index: usize, addr: SocketAddr, kind: io::ErrorKind) -> Failure {
    Failure {
        index,
        addr,
        kind,
        message: format!("{kind}"),
    }
}

#[test]
fn the_most_useful_failure_is_reported() {
    use io::ErrorKind as K;
    let report = |failures: Vec<Failure>| {
        RaceError {
            failures,
            untried: vec![],
        }
        .outcome()
    };
    // (IPv6's failure, IPv4's failure, the round's outcome).
    let blocked = [
        // Refused or reset on one family beats silence on the other.
        (K::TimedOut, K::ConnectionRefused, BlockedKind::Refused),
        (
            K::ConnectionReset,
            K::ConnectionRefused,
            BlockedKind::Refused,
        ),
        (K::TimedOut, K::ConnectionReset, BlockedKind::Reset),
        // No IPv6 route + a silent dACL on IPv4: still blocked, as before.
        (
            K::NetworkUnreachable,
            K::TimedOut,
            BlockedKind::ConnectTimeout,
        ),
        // An ICMP reject (host unreachable) beats silence, not a reset.
        (
            K::TimedOut,
            K::HostUnreachable,
            BlockedKind::HostUnreachable,
        ),
        (K::HostUnreachable, K::ConnectionReset, BlockedKind::Reset),
    ];
    for (on_v6, on_v4, want) in blocked {
        assert_eq!(
            report(vec![failure(0, v6(1), on_v6), failure(1, v4(1), on_v4)]),
            Outcome::Blocked(want),
            "{on_v6:?} then {on_v4:?}"
        );
    }
    let unreachable = [
        // No route beats an odd local error; the detail names the address.
        (
            K::PermissionDenied,
            K::NetworkUnreachable,
            "10.0.0.1:8449: ",
        ),
        // Ties: the earlier address.
        (
            K::NetworkUnreachable,
            K::NetworkUnreachable,
            "[2001:db8::1]:8449: ",
        ),
    ];
    for (on_v6, on_v4, names) in unreachable {
        match report(vec![failure(0, v6(1), on_v6), failure(1, v4(1), on_v4)]) {
            Outcome::Failed(FailureKind::Unreachable { detail }) => {
                assert!(
                    detail.starts_with(names),
                    "{on_v6:?} then {on_v4:?}: {detail}"
                )
            }
            other => panic!("{on_v6:?} then {on_v4:?}: {other:?}"),
        }
    }
    assert_eq!(
        report(vec![]),
        Outcome::Blocked(BlockedKind::ConnectTimeout)
    );
}
