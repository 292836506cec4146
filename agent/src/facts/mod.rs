//! Facts the agent gathers about its own machine, for the typed posture
//! conditions of the version 2 requirements document (docs/protocol.md):
//! the OS version, whether the root file system is encrypted, whether a
//! firewall drops inbound traffic, which services run, installed package
//! versions, when updates were last installed, after how long the screen
//! locks.
//!
//! The rules (issue 15; docs/agent.md, "What a PSN can learn"):
//!
//! - every fact comes from a **fixed absolute path** or a **fixed command**
//!   of the agent's own ([`firewall::NFT`], fixed arguments, no shell): a
//!   server chooses which condition it asks about, never a path, a command
//!   or an argument;
//! - every read is bounded in bytes ([`MAX_FACT_FILE_BYTES`], more for the
//!   dpkg database and macOS' install history) and opens regular files
//!   only, non-blocking; every command is bounded in time and output
//!   ([`command`]);
//! - every source reads below a [`FactRoot`] (`/` in production) so that
//!   tests point it at a prepared tree (fake sysfs, os-release, dpkg status);
//! - one [`Facts`] value per assessment gathers each source at most once,
//!   when a condition first needs it;
//! - a fact the platform cannot give is an [`Unavailable`] with the reason,
//!   and the condition that needed it fails closed with that reason.

pub mod command;
pub mod disk;
pub mod firewall;
pub mod os;
pub mod packages;
pub mod screen;
pub mod services;
pub mod updates;

use std::cell::OnceCell;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Largest file a fact source reads (os-release, mountinfo, sysfs
/// attributes, ufw.conf, the tails of the apt, dnf and yum logs): 1 MiB.
pub const MAX_FACT_FILE_BYTES: u64 = 1024 * 1024;

/// Why a fact could not be gathered, in words for the requirement's reason
/// (the condition fails closed with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The directory every fact source reads below: `/` on the endpoint, a
/// prepared tree in tests. Paths are the sources' fixed absolute paths
/// joined below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactRoot {
    /// The root directory.
    pub root: PathBuf,
}

impl FactRoot {
    /// The machine's own root, `/`.
    pub fn system() -> FactRoot {
        FactRoot {
            root: PathBuf::from("/"),
        }
    }

    /// A prepared tree (tests).
    pub fn at(root: impl Into<PathBuf>) -> FactRoot {
        FactRoot { root: root.into() }
    }

    /// `abs` (a fixed absolute path such as `/etc/os-release`) below the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// Reads the regular file at `abs` below the root, at most `limit`
    /// bytes, as text; a longer file is an error rather than a silently cut
    /// fact.
    pub fn read(&self, abs: &str, limit: u64) -> Result<String, Unavailable> {
        self.read_bytes(abs, limit)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// [`FactRoot::read`] as bytes (binary property lists).
    pub fn read_bytes(&self, abs: &str, limit: u64) -> Result<Vec<u8>, Unavailable> {
        let p = self.path(abs);
        let file = match crate::assess::checks::open_regular(&p) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(Unavailable(format!("{abs} is not a regular file"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Unavailable(format!("{abs} does not exist")));
            }
            Err(e) => return Err(Unavailable(format!("cannot read {abs}: {e}"))),
        };
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Unavailable(format!("cannot read {abs}: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err(Unavailable(format!(
                "{abs} is larger than the {} KiB the agent reads",
                limit / 1024
            )));
        }
        Ok(bytes)
    }

    /// Modification time of `abs` below the root.
    pub fn modified(&self, abs: &str) -> Result<SystemTime, Unavailable> {
        std::fs::metadata(self.path(abs))
            .and_then(|m| m.modified())
            .map_err(|e| Unavailable(format!("cannot read the modification time of {abs}: {e}")))
    }

    /// Whether `abs` exists below the root.
    pub fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    fn is_system(&self) -> bool {
        self.root == Path::new("/")
    }
}

/// Where the nftables ruleset comes from.
#[derive(Debug, Clone)]
enum RulesetSource {
    /// Run [`firewall::NFT`] (the endpoint).
    Command,
    /// A ruleset (or the reason there is none) given by a test.
    Given(Result<String, Unavailable>),
}

/// The facts of one assessment: each source is gathered at most once, when a
/// condition first needs it. Used on the one thread that evaluates the
/// assessment.
#[derive(Debug)]
pub struct Facts {
    root: FactRoot,
    ruleset: RulesetSource,
    now: SystemTime,
    os: OnceCell<Result<os::OsVersion, Unavailable>>,
    disk: OnceCell<Result<disk::RootDisk, Unavailable>>,
    firewall: OnceCell<Result<firewall::Firewall, Unavailable>>,
    packages: OnceCell<Result<packages::Installed, Unavailable>>,
    services: OnceCell<Result<services::Services, Unavailable>>,
    screen: OnceCell<Result<screen::ScreenLock, Unavailable>>,
    updates: OnceCell<Result<updates::LastUpdate, Unavailable>>,
}

impl Facts {
    /// The facts of this machine (root `/`, the real `nft`).
    pub fn system() -> Facts {
        Facts::new(FactRoot::system(), SystemTime::now())
    }

    /// The facts below `root`, at time `now`. Below another root than `/`
    /// no command runs: the ruleset is unavailable unless
    /// [`Facts::with_ruleset`] gives one.
    pub fn new(root: FactRoot, now: SystemTime) -> Facts {
        let ruleset = if root.is_system() {
            RulesetSource::Command
        } else {
            RulesetSource::Given(Err(Unavailable("nft not run below a test root".to_owned())))
        };
        Facts {
            root,
            ruleset,
            now,
            os: OnceCell::new(),
            disk: OnceCell::new(),
            firewall: OnceCell::new(),
            packages: OnceCell::new(),
            services: OnceCell::new(),
            screen: OnceCell::new(),
            updates: OnceCell::new(),
        }
    }

    /// The same with the output of `nft -j list ruleset` (or why there is
    /// none) given instead of run (tests).
    pub fn with_ruleset(mut self, ruleset: Result<String, Unavailable>) -> Facts {
        self.ruleset = RulesetSource::Given(ruleset);
        self
    }

    /// The time the facts are judged at (`updates-recent`).
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// The OS name and version.
    pub fn os(&self) -> &Result<os::OsVersion, Unavailable> {
        self.os.get_or_init(|| os::gather(&self.root))
    }

    /// The block device under `/` and whether it is encrypted.
    pub fn root_disk(&self) -> &Result<disk::RootDisk, Unavailable> {
        self.disk.get_or_init(|| disk::gather(&self.root))
    }

    /// The firewall state.
    pub fn firewall(&self) -> &Result<firewall::Firewall, Unavailable> {
        self.firewall.get_or_init(|| {
            let ruleset = match &self.ruleset {
                // nft exists on Linux only; elsewhere the platform's own
                // source is read by `firewall::gather`.
                RulesetSource::Command if cfg!(target_os = "linux") => firewall::run_nft(),
                RulesetSource::Command => Err(Unavailable("no nftables here".to_owned())),
                RulesetSource::Given(r) => r.clone(),
            };
            firewall::gather(&self.root, ruleset)
        })
    }

    /// The installed packages.
    pub fn packages(&self) -> &Result<packages::Installed, Unavailable> {
        self.packages.get_or_init(|| packages::gather(&self.root))
    }

    /// The services that run.
    pub fn services(&self) -> &Result<services::Services, Unavailable> {
        self.services.get_or_init(|| services::gather(&self.root))
    }

    /// The screen lock policy.
    pub fn screen_lock(&self) -> &Result<screen::ScreenLock, Unavailable> {
        self.screen.get_or_init(|| screen::gather(&self.root))
    }

    /// When updates were last installed.
    pub fn last_update(&self) -> &Result<updates::LastUpdate, Unavailable> {
        self.updates.get_or_init(|| updates::gather(&self.root))
    }
}

#[cfg(test)]
mod samples_tests;

#[cfg(test)]
pub(crate) mod test_tree {
    use std::path::Path;

    /// Writes `text` at `abs` below `root`, creating the directories.
    pub fn put(root: &Path, abs: &str, text: &str) {
        let p = root.join(abs.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}
