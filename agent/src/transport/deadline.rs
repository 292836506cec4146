//! Time limits that wake the agent once.
//!
//! tokio's timer wheel files a timer by how far away it is: one due in more
//! than 64 ms sits in a coarse slot, and the runtime wakes at the start of
//! that slot to move it to a finer one; a 5 s timer costs three wakeups, not
//! one. On a laptop (or a VM) a wakeup costs far more than the few system
//! calls of a kernel timer, and a blocked probe round — the usual case, and
//! the one that actually waits for its timeouts — would pay two extra
//! wakeups per time limit (measured: docs/benchmarks.md). On Linux a
//! [`Deadline`] is therefore a `timerfd` registered with the runtime (fires
//! once, at the deadline); elsewhere, or when the kernel refuses a timerfd,
//! it is an ordinary tokio sleep.
//!
//! A kernel timer costs five system calls to make, register, deregister and
//! close, where tokio's timer costs none, and most limits never fire: an
//! answered probe round cancels all of them (docs/benchmarks.md, "CPU per
//! answered round"). So a deadline is re-armed in place when its owner needs
//! the next limit ([`Deadline::reset`]: one system call), and a limit that
//! only backs others up and is always cancelled long before it is due is a
//! tokio timer ([`Deadline::backstop`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

/// The deadline passed before the guarded future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// A one-shot time limit; a future that completes at the deadline (and
/// stays complete when polled again).
#[derive(Debug)]
pub struct Deadline(Inner);

#[derive(Debug)]
enum Inner {
    #[cfg(target_os = "linux")]
    Kernel {
        fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
        /// The timer's expiry was read: later polls complete without asking
        /// the kernel again, until the next [`Deadline::reset`].
        fired: bool,
    },
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl Deadline {
    /// A deadline at `at`. Must be called within a tokio runtime.
    pub fn at(at: Instant) -> Deadline {
        #[cfg(target_os = "linux")]
        if !test_clock::follows_tokio()
            && let Some(fd) = kernel_timer(at)
        {
            return Deadline(Inner::Kernel { fd, fired: false });
        }
        Deadline::backstop(at)
    }

    /// A deadline at `at` for a limit that backs other limits up and is
    /// cancelled long before it is due (a probe round's end, a second after
    /// its probes' own limits): a tokio timer, which costs no system call to
    /// make or cancel. tokio's wheel wakes for a timer at the start of its
    /// slot: at most 64 ms before it is due when it was set less than 4 s
    /// ahead, at most 4 s before when set further ahead. A limit reached
    /// that way pays the wakeups the kernel timer saves; one cancelled
    /// before its slot comes up pays nothing.
    pub fn backstop(at: Instant) -> Deadline {
        Deadline(Inner::Tokio(Box::pin(tokio::time::sleep_until(at))))
    }

    /// Moves the deadline to `at`, whether or not it has passed: the same
    /// kernel timer re-armed (one system call, where a new one costs five),
    /// or the same tokio timer. Must be called within a tokio runtime.
    pub fn reset(&mut self, at: Instant) {
        match &mut self.0 {
            #[cfg(target_os = "linux")]
            Inner::Kernel { fd, fired } => {
                if arm(fd.get_ref(), at).is_some() {
                    *fired = false;
                } else {
                    // The kernel refused to re-arm it: a new deadline.
                    *self = Deadline::at(at);
                }
            }
            Inner::Tokio(sleep) => sleep.as_mut().reset(at),
        }
    }

    /// True once the deadline has been seen to pass (polled complete), until
    /// it is [`reset`](Self::reset).
    pub fn has_fired(&self) -> bool {
        match &self.0 {
            #[cfg(target_os = "linux")]
            Inner::Kernel { fired, .. } => *fired,
            Inner::Tokio(sleep) => sleep.is_elapsed(),
        }
    }

    /// Runs `fut` until it completes or this deadline passes. The deadline
    /// can guard several futures in turn (the same limit for all of them).
    pub async fn guard<F: Future>(&mut self, fut: F) -> Result<F::Output, Elapsed> {
        tokio::pin!(fut);
        tokio::select! {
            biased;
            out = &mut fut => Ok(out),
            () = &mut *self => Err(Elapsed),
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.get_mut().0 {
            #[cfg(target_os = "linux")]
            Inner::Kernel { fd, fired } => poll_kernel(fd, fired, cx),
            Inner::Tokio(sleep) => sleep.as_mut().poll(cx),
        }
    }
}

/// Tests that order events on tokio's paused clock need every deadline on
/// that clock: a kernel timer runs on real time, which the paused clock
/// neither sees nor advances.
#[cfg(test)]
pub(crate) mod test_clock {
    use std::cell::Cell;

    thread_local! {
        static FOLLOW_TOKIO: Cell<bool> = const { Cell::new(false) };
    }

    /// From now on, deadlines made on this thread (a `#[tokio::test]`
    /// runtime's only thread) are tokio timers.
    pub(crate) fn follow_tokio() {
        FOLLOW_TOKIO.with(|f| f.set(true));
    }

    // Only the kernel timer (Linux) asks.
    #[cfg(target_os = "linux")]
    pub(super) fn follows_tokio() -> bool {
        FOLLOW_TOKIO.with(Cell::get)
    }
}

/// Outside tests deadlines always use the kernel timer where there is one.
#[cfg(not(test))]
mod test_clock {
    #[cfg(target_os = "linux")]
    pub(super) fn follows_tokio() -> bool {
        false
    }
}

/// Polls a kernel timer. The runtime's readiness is only a hint: a timer
/// re-armed after it fired, or after an expiry whose event the runtime had
/// not taken yet, may look ready for its old deadline. The kernel's expiry
/// count decides (re-arming zeroes it): nothing to read is a stale
/// readiness, cleared, and the timer waits on. An error from the
/// registration or the read means the timer can no longer be watched:
/// treat it as expired rather than wait forever.
#[cfg(target_os = "linux")]
fn poll_kernel(
    fd: &mut tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    fired: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if *fired {
        return Poll::Ready(());
    }
    loop {
        let mut ready = match fd.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(ready)) => ready,
            Poll::Ready(Err(_)) => break,
        };
        let mut expiries = [0u8; 8];
        let read = rustix::io::read(ready.get_inner(), &mut expiries);
        // Read or not, the fd holds no expiry now: the runtime's readiness
        // goes, so that the next reset waits without asking the kernel.
        ready.clear_ready();
        if read != Err(rustix::io::Errno::AGAIN) {
            break;
        }
    }
    *fired = true;
    Poll::Ready(())
}

/// A non-blocking CLOCK_MONOTONIC timerfd armed for `at` and registered with
/// the runtime; `None` when the kernel or the runtime refuses (the caller
/// falls back to a tokio sleep).
#[cfg(target_os = "linux")]
fn kernel_timer(at: Instant) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )
    .ok()?;
    arm(&fd, at)?;
    // tokio deprecates the safe constructor because a `T` that merely
    // borrows its fd could close it while registered (tokio#8587); here the
    // AsyncFd owns the `OwnedFd` outright, so that cannot happen, and the
    // replacement is `unsafe`, which this workspace forbids.
    #[allow(deprecated)]
    tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE).ok()
}

/// Arms the timerfd `fd` to expire once at `at` (re-arming also zeroes its
/// expiry count); `None` when the kernel refuses.
#[cfg(target_os = "linux")]
fn arm(fd: &std::os::fd::OwnedFd, at: Instant) -> Option<()> {
    use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
    let left = at.saturating_duration_since(Instant::now());
    // An all-zero it_value disarms the timer: a deadline already passed
    // fires after 1 ns instead.
    let (secs, nanos) = if left.is_zero() {
        (0, 1)
    } else {
        (left.as_secs(), left.subsec_nanos())
    };
    // `Nsecs` is narrower than i64 on some 32-bit targets.
    #[allow(clippy::unnecessary_fallible_conversions)]
    let value = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: i64::try_from(secs).ok()?,
            tv_nsec: nanos.try_into().ok()?,
        },
    };
    timerfd_settime(fd, TimerfdTimerFlags::empty(), &value).ok()?;
    Some(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_deadline_fires_at_its_time_and_stays_fired() {
        let at = Instant::now() + Duration::from_millis(50);
        let mut d = Deadline::at(at);
        let r = d.guard(std::future::pending::<()>()).await;
        assert_eq!(r, Err(Elapsed));
        // The kernel timer runs on the real clock: what it fired after is
        // the clock's reading, not a measured gap.
        assert!(Instant::now() >= at, "fired before its time");
        // Still expired for the next guarded future.
        assert_eq!(d.guard(std::future::pending::<()>()).await, Err(Elapsed));
    }

    #[tokio::test]
    async fn a_future_that_finishes_first_wins() {
        let mut d = Deadline::at(Instant::now() + Duration::from_secs(60));
        assert_eq!(d.guard(async { 7 }).await, Ok(7));
        assert_eq!(d.guard(async { 8 }).await, Ok(8));
    }

    #[tokio::test]
    async fn a_deadline_in_the_past_fires_at_once() {
        let mut d = Deadline::at(Instant::now() - Duration::from_secs(1));
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            d.guard(std::future::pending::<()>()),
        )
        .await
        .expect("fired");
        assert_eq!(r, Err(Elapsed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_tokio_deadline_fires_when_the_clock_reaches_it_and_not_before() {
        test_clock::follow_tokio();
        let at = Instant::now() + Duration::from_secs(5);
        let mut d = Deadline::at(at);
        assert!(matches!(d.0, Inner::Tokio(_)), "{d:?}");
        // Auto-advance moves the paused clock only to the next due timer: a
        // guard ended by another timer, due first, shows the order.
        let earlier = d
            .guard(tokio::time::sleep_until(at - Duration::from_millis(1)))
            .await;
        assert_eq!(earlier, Ok(()));
        assert_eq!(d.guard(std::future::pending::<()>()).await, Err(Elapsed));
        assert_eq!(Instant::now(), at);
    }

    #[tokio::test]
    async fn a_reset_deadline_waits_for_its_new_time() {
        let mut d = Deadline::at(Instant::now() + Duration::from_millis(10));
        assert_eq!(d.guard(std::future::pending::<()>()).await, Err(Elapsed));
        assert!(d.has_fired());
        d.reset(Instant::now() + Duration::from_secs(3600));
        assert!(!d.has_fired());
        // The passed deadline does not end what the new one guards.
        assert_eq!(d.guard(async { 7 }).await, Ok(7));
        assert_eq!(poll_once(&mut d), Poll::Pending);
        // Moved back into the past, it fires again.
        d.reset(Instant::now() - Duration::from_secs(1));
        assert_eq!(d.guard(std::future::pending::<()>()).await, Err(Elapsed));
    }

    /// A kernel timer that expired unseen and is then re-armed looks ready
    /// to the runtime for its old expiry; it must wait for the new one.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_kernel_timer_rearmed_after_an_unseen_expiry_waits() {
        let mut d = Deadline::at(Instant::now() - Duration::from_secs(1));
        let Inner::Kernel { fd, .. } = &d.0 else {
            panic!("not a kernel timer: {d:?}");
        };
        // The runtime has taken the expiry (readiness set, count unread).
        drop(fd.readable().await.expect("the timer is registered"));
        d.reset(Instant::now() + Duration::from_secs(3600));
        assert_eq!(poll_once(&mut d), Poll::Pending);
        assert!(!d.has_fired());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_tokio_deadline_fires_at_its_new_time() {
        test_clock::follow_tokio();
        let start = Instant::now();
        let mut d = Deadline::at(start + Duration::from_secs(5));
        d.reset(start + Duration::from_secs(10));
        let before = d
            .guard(tokio::time::sleep_until(start + Duration::from_secs(9)))
            .await;
        assert_eq!(before, Ok(()));
        assert_eq!(d.guard(std::future::pending::<()>()).await, Err(Elapsed));
        assert_eq!(Instant::now(), start + Duration::from_secs(10));
        assert!(d.has_fired());
    }

    #[tokio::test]
    async fn a_backstop_is_a_tokio_timer() {
        let mut d = Deadline::backstop(Instant::now() + Duration::from_secs(3600));
        assert!(matches!(d.0, Inner::Tokio(_)), "{d:?}");
        assert_eq!(d.guard(async { 7 }).await, Ok(7));
    }

    fn poll_once(d: &mut Deadline) -> Poll<()> {
        Pin::new(d).poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn on_linux_the_kernel_timer_is_used() {
        let d = Deadline::at(Instant::now() + Duration::from_secs(1));
        assert!(matches!(d.0, Inner::Kernel { .. }), "{d:?}");
    }
}
