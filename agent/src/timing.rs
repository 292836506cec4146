//! Timing as values: the probe interval, the network transition delay, the
//! discovery backoff, the probe jitter and the monotonic clock reading the
//! state machine works with.
//!
//! Everything here is validated on construction (`try_new`) and pure: the
//! machine never reads a clock or draws a random number itself. The driver
//! passes the current [`MonoTime`] into every step, and the jitter comes from a
//! small deterministic generator ([`JitterRng`]) that lives in the machine's
//! state and is seeded once by the driver.

use std::fmt;
use std::ops::Add;
use std::time::Duration;

/// A reading of the driver's monotonic clock: the time elapsed since the driver
/// started. The machine only compares and adds these; it never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoTime(Duration);

impl MonoTime {
    /// The driver's start.
    pub const ZERO: MonoTime = MonoTime(Duration::ZERO);

    /// The reading `elapsed` after the driver's start.
    pub const fn from_elapsed(elapsed: Duration) -> MonoTime {
        MonoTime(elapsed)
    }

    /// Time since the driver's start.
    pub const fn elapsed(self) -> Duration {
        self.0
    }

    /// How long after `earlier` this reading is (zero if it is not later).
    pub fn saturating_since(self, earlier: MonoTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for MonoTime {
    type Output = MonoTime;

    /// Saturates instead of overflowing: a deadline that far out never fires,
    /// which is what an absurd input deserves.
    fn add(self, rhs: Duration) -> MonoTime {
        MonoTime(self.0.saturating_add(rhs))
    }
}

/// A timing value outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// StateSyncProbeInterval outside 1-300 s.
    #[error(
        "state sync probe interval {} is out of range (allowed: 1-300 s, or 0 to disable)",
        humantime::format_duration(*value)
    )]
    ProbeInterval {
        /// The refused value.
        value: Duration,
    },
    /// NetworkTransitionDelay outside 2-30 s.
    #[error(
        "network transition delay {} is out of range (allowed: 2-30 s)",
        humantime::format_duration(*value)
    )]
    TransitionDelay {
        /// The refused value.
        value: Duration,
    },
    /// A backoff whose first delay is zero or above its cap.
    #[error(
        "backoff from {initial_ms} ms capped at {cap_ms} ms is invalid (the first delay must be above zero and at most the cap)"
    )]
    Backoff {
        /// The first delay, in milliseconds.
        initial_ms: u128,
        /// The cap, in milliseconds.
        cap_ms: u128,
    },
    /// A jitter of 10 % or more.
    #[error(
        "jitter of {per_million} per million is out of range (allowed: 0 to 99999, below 10 %)"
    )]
    Jitter {
        /// The refused value.
        per_million: u32,
    },
}

/// The state sync probe interval (profile `StateSyncProbeInterval`), 1-300 s.
///
/// "0 or absent = disabled" is not a value of this type: the machine holds an
/// `Option<ProbeInterval>` where `None` means sync is disabled by the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProbeInterval(Duration);

impl ProbeInterval {
    /// Shortest interval.
    pub const MIN: Duration = Duration::from_secs(1);
    /// Longest interval.
    pub const MAX: Duration = Duration::from_secs(300);

    /// Validates an interval.
    pub fn try_new(interval: Duration) -> Result<ProbeInterval, TimingError> {
        if (Self::MIN..=Self::MAX).contains(&interval) {
            Ok(ProbeInterval(interval))
        } else {
            Err(TimingError::ProbeInterval { value: interval })
        }
    }

    /// Reads the profile's value: `None` (absent) and zero mean "disabled".
    pub fn from_profile(value: Option<Duration>) -> Result<Option<ProbeInterval>, TimingError> {
        match value {
            None => Ok(None),
            Some(d) if d.is_zero() => Ok(None),
            Some(d) => ProbeInterval::try_new(d).map(Some),
        }
    }

    /// The interval.
    pub const fn get(self) -> Duration {
        self.0
    }

    /// The delay until the next regular probe: the interval shortened by the
    /// jitter, so always within `(interval * 0.9, interval]`.
    ///
    /// Jitter only ever shortens the delay: the profile's interval is the
    /// longest a server-side change goes unnoticed (issue 4 bounds the time
    /// to notice by interval + 100 ms, which a stretch of up to 10 % breaks at
    /// every interval). A blocked probe never reaches the PSN (the dACL
    /// drops it on the way), so probing up to 10 % sooner costs the PSN
    /// nothing while the posture is known.
    pub fn jittered(self, jitter: Jitter) -> Duration {
        self.0 - jitter.portion_of(self.0)
    }
}

/// The network transition delay (profile `NetworkTransitionDelay`), 2-30 s,
/// default 3 s: the wait before the first probe after entering `known` and
/// before the confirmation probe, so that a new dACL is in place first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransitionDelay(Duration);

impl TransitionDelay {
    /// Shortest delay.
    pub const MIN: Duration = Duration::from_secs(2);
    /// Longest delay.
    pub const MAX: Duration = Duration::from_secs(30);
    /// The profile's default.
    pub const DEFAULT: TransitionDelay = TransitionDelay(Duration::from_secs(3));

    /// Validates a delay.
    pub fn try_new(delay: Duration) -> Result<TransitionDelay, TimingError> {
        if (Self::MIN..=Self::MAX).contains(&delay) {
            Ok(TransitionDelay(delay))
        } else {
            Err(TimingError::TransitionDelay { value: delay })
        }
    }

    /// The delay.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl Default for TransitionDelay {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A random stretch or shrink factor below 10 %, in parts per million
/// (`0..100_000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Jitter(u32);

impl Jitter {
    /// Exclusive upper bound, in parts per million (10 %).
    pub const LIMIT_PER_MILLION: u32 = 100_000;
    /// No jitter.
    pub const NONE: Jitter = Jitter(0);

    /// Validates a jitter given in parts per million.
    pub fn try_new(per_million: u32) -> Result<Jitter, TimingError> {
        if per_million < Self::LIMIT_PER_MILLION {
            Ok(Jitter(per_million))
        } else {
            Err(TimingError::Jitter { per_million })
        }
    }

    /// Maps a uniformly random `u64` to a uniformly distributed jitter.
    pub fn from_random(random: u64) -> Jitter {
        // The bias of a modulo over 2^64 by 10^5 is below 10^-14: irrelevant here.
        let per_million = (random % u64::from(Self::LIMIT_PER_MILLION)) as u32;
        Jitter(per_million)
    }

    /// The jitter in parts per million.
    pub const fn per_million(self) -> u32 {
        self.0
    }

    /// This jitter's share of `base` (below a tenth of it).
    pub fn portion_of(self, base: Duration) -> Duration {
        let nanos = base.as_nanos() * u128::from(self.0) / 1_000_000;
        duration_from_nanos(nanos)
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = nanos / 1_000_000_000;
    let sub = (nanos % 1_000_000_000) as u32;
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, sub),
        Err(_) => Duration::MAX,
    }
}

/// A deterministic pseudo-random generator (SplitMix64) for jitter.
///
/// It lives in the machine's state so that `step` stays a pure function: the
/// driver seeds it once (from `fastrand` or the clock) and tests seed it with a
/// constant. Not for anything security related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JitterRng(u64);

impl JitterRng {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> JitterRng {
        JitterRng(seed)
    }

    /// The next jitter; advances the generator.
    pub fn next_jitter(&mut self) -> Jitter {
        Jitter::from_random(self.next_u64())
    }

    /// A delay drawn uniformly from `[0, max)` (zero when `max` is zero),
    /// to the microsecond; advances the generator.
    pub fn below(&mut self, max: Duration) -> Duration {
        let micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        if micros == 0 {
            return Duration::ZERO;
        }
        // The modulo's bias is below micros / 2^64: nothing at these spans.
        Duration::from_micros(self.next_u64() % micros)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Exponential backoff for discovery retries: `initial * 2^attempt`, capped.
///
/// The cap is the state sync interval, or 60 s when sync is disabled
/// ([`Backoff::for_sync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
}

impl Backoff {
    /// First retry delay of the discovery backoff.
    pub const INITIAL: Duration = Duration::from_secs(1);
    /// Cap when state sync is disabled.
    pub const CAP_WITHOUT_SYNC: Duration = Duration::from_secs(60);

    /// Validates a backoff: `0 < initial <= cap`.
    pub fn try_new(initial: Duration, cap: Duration) -> Result<Backoff, TimingError> {
        if initial.is_zero() || initial > cap {
            return Err(TimingError::Backoff {
                initial_ms: initial.as_millis(),
                cap_ms: cap.as_millis(),
            });
        }
        Ok(Backoff { initial, cap })
    }

    /// The discovery backoff for a sync setting: from 1 s, capped at the
    /// interval, or at 60 s when sync is disabled.
    pub fn for_sync(sync: Option<ProbeInterval>) -> Backoff {
        let cap = sync.map_or(Self::CAP_WITHOUT_SYNC, ProbeInterval::get);
        // ProbeInterval::MIN equals INITIAL, so `initial <= cap` always holds.
        Backoff {
            initial: Self::INITIAL,
            cap: cap.max(Self::INITIAL),
        }
    }

    /// The first delay.
    pub const fn initial(self) -> Duration {
        self.initial
    }

    /// The cap.
    pub const fn cap(self) -> Duration {
        self.cap
    }

    /// The delay before retry number `attempt` (0 = the first retry):
    /// monotone in `attempt` and never above the cap.
    pub fn delay(self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// [`Backoff::delay`] shortened by the jitter (so within `(0.9 d, d]`):
    /// a fleet that lost its PSN at the same moment spreads out, and the cap
    /// still holds.
    pub fn delay_jittered(self, attempt: u32, jitter: Jitter) -> Duration {
        let d = self.delay(attempt);
        d - jitter.portion_of(d)
    }
}

/// How far apart the probes of one round start (connected PSN first), so that
/// a silently dropped target does not hold up the round when another answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProbeStagger(Duration);

impl ProbeStagger {
    /// The stagger the agent uses.
    pub const DEFAULT: ProbeStagger = ProbeStagger(Duration::from_millis(250));

    /// The stagger.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl Default for ProbeStagger {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ProbeInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Display for TransitionDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn probe_interval_range_is_1_to_300_seconds() {
        assert!(ProbeInterval::try_new(secs(1)).is_ok());
        assert!(ProbeInterval::try_new(secs(300)).is_ok());
        assert!(ProbeInterval::try_new(Duration::from_millis(999)).is_err());
        assert!(ProbeInterval::try_new(secs(301)).is_err());
        assert!(ProbeInterval::try_new(Duration::ZERO).is_err());
    }

    #[test]
    fn interval_zero_or_absent_means_disabled() {
        assert_eq!(ProbeInterval::from_profile(None), Ok(None));
        assert_eq!(ProbeInterval::from_profile(Some(Duration::ZERO)), Ok(None));
        assert_eq!(
            ProbeInterval::from_profile(Some(secs(60))).map(|i| i.map(ProbeInterval::get)),
            Ok(Some(secs(60)))
        );
        assert!(ProbeInterval::from_profile(Some(secs(301))).is_err());
    }

    #[test]
    fn transition_delay_range_is_2_to_30_seconds_default_3() {
        assert!(TransitionDelay::try_new(secs(1)).is_err());
        assert!(TransitionDelay::try_new(secs(2)).is_ok());
        assert!(TransitionDelay::try_new(secs(30)).is_ok());
        assert!(TransitionDelay::try_new(secs(31)).is_err());
        assert_eq!(TransitionDelay::default().get(), secs(3));
    }

    /// The key table's `(min, max, default)` of a `Seconds` key, as durations.
    fn table_seconds(key: &str) -> (Duration, Duration, Duration) {
        let def = profile_schema::KEYS
            .iter()
            .find(|k| k.name == key)
            .unwrap_or_else(|| panic!("{key} is not in the key table"));
        let profile_schema::KeyType::Seconds { min, max } = def.ty else {
            panic!("{key} is not a number of seconds in the key table");
        };
        let default: u64 = def.default.parse().unwrap();
        (secs(u64::from(min)), secs(u64::from(max)), secs(default))
    }

    // The ranges are `const` here (used in const contexts and patterns of
    // the API); these tests tie them to the key table, the single source.
    #[test]
    fn probe_interval_range_is_the_key_tables() {
        let (min, max, default) = table_seconds("StateSyncProbeInterval");
        // The table's 0 (and its default) mean "disabled", which is no
        // ProbeInterval: the shortest interval is the table's next value.
        assert_eq!(min, Duration::ZERO);
        assert_eq!(default, Duration::ZERO);
        assert_eq!(ProbeInterval::MIN, secs(1));
        assert_eq!(ProbeInterval::MAX, max);
    }

    #[test]
    fn transition_delay_range_and_default_are_the_key_tables() {
        let (min, max, default) = table_seconds("NetworkTransitionDelay");
        assert_eq!(TransitionDelay::MIN, min);
        assert_eq!(TransitionDelay::MAX, max);
        assert_eq!(TransitionDelay::DEFAULT.get(), default);
    }

    #[test]
    fn jitter_is_below_ten_percent() {
        assert!(Jitter::try_new(99_999).is_ok());
        assert!(Jitter::try_new(100_000).is_err());
        let i = ProbeInterval::try_new(secs(100)).unwrap();
        assert_eq!(i.jittered(Jitter::NONE), secs(100));
        assert_eq!(
            i.jittered(Jitter::try_new(50_000).unwrap()),
            secs(95),
            "5 % of 100 s, sooner"
        );
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_the_cap() {
        let b = Backoff::for_sync(Some(ProbeInterval::try_new(secs(10)).unwrap()));
        let delays: Vec<u64> = (0..6).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        let off = Backoff::for_sync(None);
        assert_eq!(off.cap(), secs(60));
        assert_eq!(off.delay(5), secs(32));
        assert_eq!(off.delay(6), secs(60));
        assert_eq!(off.delay(u32::MAX), secs(60));
        assert!(Backoff::try_new(Duration::ZERO, secs(1)).is_err());
        assert!(Backoff::try_new(secs(2), secs(1)).is_err());
    }

    #[test]
    fn rng_is_deterministic_and_varies() {
        let mut a = JitterRng::new(7);
        let mut b = JitterRng::new(7);
        let xs: Vec<Jitter> = (0..16).map(|_| a.next_jitter()).collect();
        let ys: Vec<Jitter> = (0..16).map(|_| b.next_jitter()).collect();
        assert_eq!(xs, ys);
        let distinct: std::collections::HashSet<_> = xs.iter().collect();
        assert!(distinct.len() > 8, "jitter should vary: {xs:?}");
    }

    proptest! {
        #[test]
        fn jittered_probe_delay_stays_within_90_percent_and_interval(
            millis in 1_000u64..=300_000, random in any::<u64>()
        ) {
            let interval = ProbeInterval::try_new(Duration::from_millis(millis)).unwrap();
            let d = interval.jittered(Jitter::from_random(random));
            prop_assert!(d <= interval.get());
            prop_assert!(d * 10 > interval.get() * 9);
        }

        #[test]
        fn probe_interval_accepts_exactly_its_range(millis in 0u64..400_000) {
            let d = Duration::from_millis(millis);
            let ok = ProbeInterval::try_new(d).is_ok();
            prop_assert_eq!(ok, (1_000..=300_000).contains(&millis));
        }

        #[test]
        fn transition_delay_accepts_exactly_its_range(millis in 0u64..40_000) {
            let ok = TransitionDelay::try_new(Duration::from_millis(millis)).is_ok();
            prop_assert_eq!(ok, (2_000..=30_000).contains(&millis));
        }

        #[test]
        fn backoff_is_monotone_and_capped(
            initial_ms in 1u64..=10_000, extra_ms in 0u64..=600_000, attempt in 0u32..200
        ) {
            let b = Backoff::try_new(
                Duration::from_millis(initial_ms),
                Duration::from_millis(initial_ms + extra_ms),
            ).unwrap();
            prop_assert!(b.delay(attempt) <= b.delay(attempt + 1));
            prop_assert!(b.delay(attempt) <= b.cap());
            prop_assert!(b.delay(attempt) >= b.initial());
        }

        #[test]
        fn jittered_backoff_is_capped_and_at_least_90_percent(
            sync in proptest::option::of(1u64..=300), attempt in 0u32..64, random in any::<u64>()
        ) {
            let sync = sync.map(|s| ProbeInterval::try_new(secs(s)).unwrap());
            let b = Backoff::for_sync(sync);
            let plain = b.delay(attempt);
            let d = b.delay_jittered(attempt, Jitter::from_random(random));
            prop_assert!(d <= plain && d <= b.cap());
            prop_assert!(d * 10 >= plain * 9);
            prop_assert!(!d.is_zero());
        }

        #[test]
        fn jitter_from_random_is_always_valid(random in any::<u64>()) {
            let j = Jitter::from_random(random);
            prop_assert!(Jitter::try_new(j.per_million()).is_ok());
        }
    }
}
