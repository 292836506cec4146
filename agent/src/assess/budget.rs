//! The budget of one assessment: a deadline and a number of bytes that all
//! its checks share. Checks ask it between checks and between the chunks of
//! every read, so a server's worst reply costs at most the budget (plus one
//! chunk), not whatever its checks would take.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long all the checks of one assessment may run.
pub const TIME_BUDGET: Duration = Duration::from_secs(5);

/// How many bytes all the checks of one assessment may read together.
pub const BYTE_BUDGET: u64 = 256 * 1024 * 1024;

/// The unit of reading: the budget is asked before each chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// What ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// The time budget.
    Time(Duration),
    /// The byte budget.
    Bytes(u64),
}

impl std::fmt::Display for Spent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spent::Time(t) => write!(
                f,
                "the assessment's time budget of {} s is spent; the check was stopped",
                t.as_secs_f64()
            ),
            Spent::Bytes(b) => write!(
                f,
                "the assessment's read budget of {} MiB is spent; the check was stopped",
                b / (1024 * 1024)
            ),
        }
    }
}

/// The budget of one assessment. Used on the one thread that evaluates it.
#[derive(Debug)]
pub struct Budget {
    deadline: Instant,
    time: Duration,
    bytes: u64,
    bytes_left: Cell<u64>,
}

impl Budget {
    /// A budget of `time` from now and `bytes`.
    pub fn new(time: Duration, bytes: u64) -> Budget {
        Budget {
            deadline: Instant::now() + time,
            time,
            bytes,
            bytes_left: Cell::new(bytes),
        }
    }

    /// The standard budget ([`TIME_BUDGET`], [`BYTE_BUDGET`]).
    pub fn standard() -> Budget {
        Budget::new(TIME_BUDGET, BYTE_BUDGET)
    }

    /// `Err` once the time is spent.
    pub fn check(&self) -> Result<(), Spent> {
        if Instant::now() >= self.deadline {
            Err(Spent::Time(self.time))
        } else {
            Ok(())
        }
    }

    /// Takes `n` bytes from the budget before reading them; `Err` when the
    /// time is spent or fewer than `n` bytes are left.
    pub fn take(&self, n: u64) -> Result<(), Spent> {
        self.check()?;
        let left = self.bytes_left.get();
        if n > left {
            self.bytes_left.set(0);
            return Err(Spent::Bytes(self.bytes));
        }
        self.bytes_left.set(left - n);
        Ok(())
    }

    /// Gives back bytes taken but not read (a short read).
    fn refund(&self, n: u64) {
        self.bytes_left
            .set(self.bytes_left.get().saturating_add(n).min(self.bytes));
    }

    /// Bytes not yet taken.
    pub fn bytes_left(&self) -> u64 {
        self.bytes_left.get()
    }
}

/// Reads `reader` in chunks of at most [`CHUNK_BYTES`], at most `limit`
/// bytes in all, asking `budget` before every chunk, and hands each chunk to
/// `f`. Returns the number of bytes read.
pub fn read_chunks(
    mut reader: impl std::io::Read,
    limit: u64,
    budget: &Budget,
    mut f: impl FnMut(&[u8]) -> Result<(), Spent>,
) -> Result<Result<u64, std::io::Error>, Spent> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut total = 0u64;
    while total < limit {
        let want = (limit - total).min(CHUNK_BYTES as u64) as usize;
        budget.take(want as u64)?;
        let read = reader.read(&mut buf[..want]);
        budget.refund((want - *read.as_ref().unwrap_or(&0)) as u64);
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(e)),
        };
        total += n as u64;
        f(&buf[..n])?;
    }
    Ok(Ok(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_run_out_and_stay_out() {
        let b = Budget::new(Duration::from_secs(3600), 100);
        assert_eq!(b.take(60), Ok(()));
        assert_eq!(b.take(41), Err(Spent::Bytes(100)));
        assert_eq!(b.take(1), Err(Spent::Bytes(100)));
        assert_eq!(b.bytes_left(), 0);
    }

    #[test]
    fn a_spent_deadline_stops_every_chunk() {
        let b = Budget::new(Duration::ZERO, u64::MAX);
        assert_eq!(b.check(), Err(Spent::Time(Duration::ZERO)));
        let mut calls = 0;
        let r = read_chunks(&b"abc"[..], 10, &b, |_| {
            calls += 1;
            Ok(())
        });
        assert_eq!(r.unwrap_err(), Spent::Time(Duration::ZERO));
        assert_eq!(calls, 0);
    }

    #[test]
    fn reads_are_chunked_and_limited() {
        let data = vec![7u8; CHUNK_BYTES * 2 + 10];
        let b = Budget::new(Duration::from_secs(3600), u64::MAX);
        let mut sizes = Vec::new();
        let n = read_chunks(&data[..], (CHUNK_BYTES + 5) as u64, &b, |c| {
            sizes.push(c.len());
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(n, (CHUNK_BYTES + 5) as u64);
        assert_eq!(sizes, [CHUNK_BYTES, 5]);
        // A read that exceeds the byte budget stops before reading.
        let small = Budget::new(Duration::from_secs(3600), 10);
        let r = read_chunks(&data[..], u64::MAX, &small, |_| Ok(()));
        assert_eq!(r.unwrap_err(), Spent::Bytes(10));
        // A short file costs what it holds, not a whole chunk.
        let b = Budget::new(Duration::from_secs(3600), 1000);
        read_chunks(&b"abc"[..], 100, &b, |_| Ok(()))
            .unwrap()
            .unwrap();
        assert_eq!(b.bytes_left(), 997);
    }
}
