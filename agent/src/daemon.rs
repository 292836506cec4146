//! The driver of the state machine: the only caller of [`machine::step`] and
//! the only place its actions run.
//!
//! It owns the [`State`]. Everything that happens comes in as an
//! [`Event`]: results of spawned tasks (a discovery attempt, an assessment, a
//! probe round) over an mpsc channel, the machine's timers (one per slot;
//! the earliest as a [`Deadline`], keyed by the timer's id so a replaced
//! timer is never reported), profile reloads, the endpoint's network changes
//! ([`crate::netwatch`]), a resume from sleep (the clocks compared at each
//! wakeup) and rescan requests from the status socket
//! (`posture-sync reassess`). After every step it logs the transition
//! (one line), runs the actions, and publishes the status report on a watch
//! channel for the status socket. Each transition is also appended to
//! `transitions.jsonl`, and each finished probe round is logged as one line
//! and appended to the probe history (typed records, [`crate::record`]).

mod history;
mod round_log;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use profile_schema::{Loaded, Profile};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::gateway::GatewayMode;
use crate::machine::{
    self, Action, BundleReason, Event, OpId, Settings, Severity, Stage, State, Step, TimerSlot,
    Transition,
};
use crate::netwatch::{self, ClockSample, NetWatcher};
use crate::outcome::{HostPort, RoundVerdict};
use crate::record::TransitionRecord;
use crate::reload::ReloadResult;
use crate::status_report;
use crate::store::{self, KnownPsn};
use crate::timing::MonoTime;
use crate::transport::Transport;
use crate::transport::deadline::Deadline;
use crate::{assess, discovery, probe};

pub use history::{HISTORY_KEEP_LINES, ProbeHistory, TransitionLog};
pub use round_log::REPEAT_LOG_INTERVAL;
use round_log::RoundLog;

/// Side effects the daemon hands to its owner (`cmd::run`): things that are
/// not the drivers' to do, such as resizing the log or writing a diagnostic
/// bundle.
pub trait Hooks {
    /// A valid profile was applied (at start and after every change).
    fn profile_applied(&mut self, profile: &Profile);
    /// The machine asks for a diagnostic bundle; `status` is the status
    /// report after the step that asked (the daemon must not query its own
    /// socket).
    fn collect_bundle(
        &mut self,
        reason: &BundleReason,
        profile: Option<&Profile>,
        status: serde_json::Value,
    );
}

/// What the daemon needs from the outside: built by `cmd::run`, injected so
/// that tests can run a daemon against a local PSN.
#[derive(Debug)]
pub struct Io {
    /// Client for discovery and assessment.
    pub transport: Transport,
    /// Client for probes (shorter exchange timeout, see [`probe::PROBE_TIMEOUTS`]).
    pub probe_transport: Transport,
    /// The persisted PSN list (`store`).
    pub psn_store: PathBuf,
    /// The probe history (one JSON line per round); the transitions file
    /// ([`crate::record::TRANSITIONS_FILE`]) is written next to it.
    pub probe_history: PathBuf,
    /// Where the status report goes after every step.
    pub status: watch::Sender<status_report::Snapshot>,
    /// Where stage 1 of discovery asks for the switch's redirect
    /// (`run --gateway`); [`GatewayMode::Off`] turns the hop off.
    pub gateway: GatewayMode,
    /// Watch the endpoint's network for changes (`run --network-watch`);
    /// off, only a rescan or a probe restarts discovery.
    pub network_watch: bool,
    /// The start spread (`run --start-spread`): the first discovery after
    /// the start and after a network change waits a random delay below it
    /// ([`Settings::start_spread`]).
    pub start_spread: std::time::Duration,
    /// Places no posture check may look unless the profile's
    /// ContentCheckPaths allow them, besides the platform's own
    /// ([`assess::policy`]): the agent's state and log directories and the
    /// user's home directory.
    pub check_off_limits: Vec<PathBuf>,
}

/// A request to rediscover and reassess now (`posture-sync reassess`, over
/// the status socket). The daemon answers with the transition the request
/// caused (a restart of discovery, or why it was declined); `None` when the
/// machine had nothing to decide (no profile applied yet).
#[derive(Debug)]
pub struct RescanRequest {
    /// Where the answer goes.
    pub reply: oneshot::Sender<Option<TransitionRecord>>,
}

/// How many rescan requests may wait for the daemon; more are turned away
/// (the ones waiting already ask for the same thing).
const RESCAN_QUEUE: usize = 4;

/// The running driver.
pub struct Daemon<H> {
    /// Shared with the status socket's snapshot (no copy per step).
    state: Arc<State>,
    started: Instant,
    io: Io,
    hooks: H,
    profile: Option<Profile>,
    known: Vec<KnownPsn>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    tasks: HashMap<OpId, AbortHandle>,
    /// The machine's timers, one per slot (a new one replaces the slot's).
    timers: HashMap<TimerSlot, (OpId, Instant)>,
    history: ProbeHistory,
    /// Which round lines are written (identical rounds are counted).
    round_log: RoundLog,
    transitions: TransitionLog,
    assessor: assess::Assessor,
    rescan_tx: mpsc::Sender<RescanRequest>,
    rescan_rx: mpsc::Receiver<RescanRequest>,
}

impl<H> std::fmt::Debug for Daemon<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("phase", &self.state.phase().name())
            .field("tasks", &self.tasks.len())
            .field("timers", &self.timers)
            .finish_non_exhaustive()
    }
}

impl<H: Hooks> Daemon<H> {
    /// A daemon in `idle`, remembering the persisted PSNs from `io.psn_store`
    /// (a corrupt file is reported and set aside by the store, never fatal).
    pub fn new(io: Io, hooks: H) -> Self {
        let (known, warning) = store::load(&io.psn_store);
        if let Some(w) = warning {
            tracing::warn!(file = %io.psn_store.display(), "{w}");
        }
        if !known.is_empty() {
            tracing::info!(
                psns = %known.iter().map(|k| HostPort::new(k.host.clone(), k.discovery_port).to_string()).collect::<Vec<_>>().join(", "),
                "restored the PSNs that served this endpoint before"
            );
        }
        let persisted = known
            .iter()
            .map(|k| HostPort::new(k.host.clone(), k.discovery_port))
            .collect();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (rescan_tx, rescan_rx) = mpsc::channel(RESCAN_QUEUE);
        let history = ProbeHistory::new(io.probe_history.clone());
        let transitions = TransitionLog::new(
            io.probe_history
                .with_file_name(crate::record::TRANSITIONS_FILE),
        );
        let assessor = assess::Assessor::new(assess::CheckPolicy::new(
            &[],
            io.check_off_limits.iter().cloned(),
            None,
        ));
        Daemon {
            state: Arc::new(State::new(persisted, fastrand::u64(..))),
            started: Instant::now(),
            io,
            hooks,
            profile: None,
            known,
            events_tx,
            events_rx,
            tasks: HashMap::new(),
            timers: HashMap::new(),
            history,
            round_log: RoundLog::default(),
            transitions,
            assessor,
            rescan_tx,
            rescan_rx,
        }
    }

    /// Where the status socket sends `posture-sync reassess` requests.
    pub fn rescan_sender(&self) -> mpsc::Sender<RescanRequest> {
        self.rescan_tx.clone()
    }

    /// The machine's current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Applies the profile loaded at start, then runs until `shutdown`
    /// completes (SIGINT/SIGTERM) and returns the final state. Profile changes
    /// arrive on `reloads` (a closed channel just means no more reloads).
    /// Tasks still running at shutdown are aborted.
    pub async fn run(
        mut self,
        initial: Loaded,
        mut reloads: mpsc::Receiver<ReloadResult>,
        shutdown: impl Future<Output = ()>,
    ) -> State {
        self.apply_profile(initial);
        self.publish();
        tokio::pin!(shutdown);
        // The machine's timer as a kernel timer: one wakeup when it is due
        // (tokio's wheel would wake once more on the way; docs/benchmarks.md).
        // One timer, re-armed for each machine timer in turn: one system
        // call where a new timer cost five, every probe round.
        let mut timer: Option<Deadline> = None;
        let mut armed_for: Option<Instant> = None;
        let mut reloads_open = true;
        let mut watcher = self.start_network_watch();
        // A resume shows as the suspend-counting clock running ahead of the
        // awake one between two wakeups (no wakeup of its own).
        // Part of watching the network: off with it.
        let mut clocks = if self.io.network_watch {
            netwatch::sample_clocks().ok()
        } else {
            None
        };
        loop {
            clocks = self.check_resumed(clocks);
            // The earliest of the machine's timers is the one to wait for.
            let next = self
                .timers
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(slot, (_, at))| (*slot, *at));
            match next {
                Some((_, at)) if armed_for == Some(at) => {}
                Some((_, at)) => {
                    match timer.as_mut() {
                        Some(t) => t.reset(at),
                        None => timer = Some(Deadline::at(at)),
                    }
                    armed_for = Some(at);
                }
                None => {
                    armed_for = None;
                    // A timer that fired stays quiet until re-armed; one
                    // still pending would wake the runtime for nothing.
                    if timer.as_ref().is_some_and(|t| !t.has_fired()) {
                        timer = None;
                    }
                }
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(event) = self.events_rx.recv() => {
                    let _ = self.handle(event);
                }
                () = async {
                    match timer.as_mut() {
                        Some(deadline) => deadline.await,
                        None => std::future::pending().await,
                    }
                }, if next.is_some() => {
                    if let Some((id, _)) = next.and_then(|(slot, _)| self.timers.remove(&slot)) {
                        let _ = self.handle(Event::TimerFired { timer: id });
                    }
                }
                change = async {
                    match watcher.as_mut() {
                        Some(w) => w.next().await,
                        None => std::future::pending().await,
                    }
                }, if watcher.is_some() => match change {
                    Some(change) if change.restarts_discovery() => {
                        tracing::info!(change = %change, "network change; discovery restarts once the network is quiet");
                        let _ = self.handle(Event::NetworkChanged);
                    }
                    Some(_) => {}
                    None => {
                        // The watcher logged why; one fresh start, then none.
                        watcher = self.start_network_watch();
                        if watcher.is_none() {
                            tracing::warn!("network changes are no longer watched; discovery restarts only after a probe or `posture-sync reassess`");
                        }
                    }
                },
                Some(request) = self.rescan_rx.recv() => {
                    tracing::info!("rescan requested over the status socket");
                    let answer = self
                        .handle(Event::RescanRequested)
                        .map(|t| TransitionRecord::of(SystemTime::now(), &t));
                    // The client may have given up waiting; nothing to tell it.
                    let _ = request.reply.send(answer);
                }
                reload = reloads.recv(), if reloads_open => match reload {
                    Some(Ok(loaded)) => self.apply_profile(loaded),
                    Some(Err(error)) => tracing::error!(
                        "{error}; keeping the last good profile"
                    ),
                    None => reloads_open = false,
                },
            }
        }
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
        self.publish();
        Arc::unwrap_or_clone(self.state)
    }

    /// The network watcher, when `--network-watch` is on and the OS has one
    /// (a failure is logged: the agent runs on without it).
    fn start_network_watch(&self) -> Option<NetWatcher> {
        if !self.io.network_watch {
            return None;
        }
        match netwatch::watch() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "{e}; discovery restarts only after a probe or `posture-sync reassess`"
                );
                None
            }
        }
    }

    /// Compares the clocks with the last sample and reports a resume.
    fn check_resumed(&mut self, last: Option<ClockSample>) -> Option<ClockSample> {
        // `None` when not watching (or the OS has no clock pair): stays so.
        last?;
        let now = netwatch::sample_clocks().ok()?;
        if let Some(slept) = last.and_then(|l| netwatch::resumed_between(l, now)) {
            tracing::info!(
                slept_s = slept.as_secs(),
                "resumed from sleep; discovery restarts once the network is quiet"
            );
            let _ = self.handle(Event::Resumed { slept });
        }
        Some(now)
    }

    fn now(&self) -> MonoTime {
        MonoTime::from_elapsed(self.started.elapsed())
    }

    fn apply_profile(&mut self, loaded: Loaded) {
        for note in &loaded.notes {
            tracing::info!("profile: {note}");
        }
        match Settings::from_profile(&loaded.profile) {
            Ok(mut settings) => {
                settings.gateway_discovery = self.io.gateway.enabled();
                settings.start_spread = self.io.start_spread;
                // The advice `profile check` prints, including vendor keys
                // the agent does not use that hold values it would not
                // accept: the profile is applied anyway (behaviour.md).
                for warning in loaded.profile.lint() {
                    match &warning.help {
                        Some(help) => tracing::warn!("profile: {warning} (help: {help})"),
                        None => tracing::warn!("profile: {warning}"),
                    }
                }
                self.hooks.profile_applied(&loaded.profile);
                self.assessor = self.assessor.with_policy(assess::CheckPolicy::new(
                    &loaded.profile.content_check_paths(),
                    self.io.check_off_limits.iter().cloned(),
                    None,
                ));
                self.profile = Some(loaded.profile);
                let _ = self.handle(Event::ProfileApplied(settings));
            }
            Err(error) => {
                tracing::error!("profile refused: {error}; keeping the last good profile")
            }
        }
    }

    /// One step of the machine: log, act, publish. Returns the step's
    /// transition.
    fn handle(&mut self, event: Event) -> Option<Transition> {
        let now = self.now();
        // The round is recorded with the session it probed (the step may
        // leave the session behind, e.g. when it restarts discovery).
        let round = match &event {
            Event::DiscoveryFinished { op, .. } | Event::AssessmentFinished { op, .. } => {
                self.tasks.remove(op);
                None
            }
            Event::ProbeRoundFinished { op, .. } => {
                self.tasks.remove(op);
                let session = self.state.session().map(ToString::to_string);
                Some((*op, session.unwrap_or_default()))
            }
            Event::ProfileApplied(_)
            | Event::TimerFired { .. }
            | Event::NetworkChanged
            | Event::Resumed { .. }
            | Event::RescanRequested => None,
        };
        let Step {
            state,
            actions,
            transition,
            stale,
        } = machine::step(&self.state, event, now);
        if stale {
            tracing::debug!("ignored a stale result or timer");
            return None;
        }
        self.state = Arc::new(state);
        if let Some((op, session)) = round {
            self.record_round(op, &session);
        }
        if let Some(t) = &transition {
            log_transition(t);
            self.transitions.append(SystemTime::now(), t);
        }
        for action in actions {
            self.act(action);
        }
        self.publish();
        transition
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::StartDiscovery {
                op,
                stage,
                gateway,
                session,
                targets,
                refused,
            } => {
                for r in &refused {
                    tracing::warn!(psn = %r.target, source = %r.source, "security: {r}");
                }
                // The redirect's rules are the settings in force (the
                // machine holds the redirect's host to them once more).
                let ask =
                    self.state
                        .settings()
                        .filter(|_| gateway)
                        .map(|s| discovery::GatewayAsk {
                            mode: self.io.gateway,
                            rules: s.server_name_rules.clone(),
                            ports: s.server_ports.clone(),
                        });
                let transport = self.io.transport.clone();
                self.spawn(op, async move {
                    let result = match stage {
                        Stage::One => {
                            discovery::attempt_parallel(&transport, &targets, session.as_ref(), ask)
                                .await
                        }
                        Stage::Two => {
                            discovery::attempt(&transport, &targets, session.as_ref()).await
                        }
                    };
                    Event::DiscoveryFinished { op, result }
                });
            }
            Action::StartAssessment { op, session, psn } => {
                let transport = self.io.transport.clone();
                let assessor = self.assessor.clone();
                self.spawn(op, async move {
                    let result = assess::assess(&transport, &assessor, &psn, &session).await;
                    if let Err(e) = &result {
                        tracing::warn!(session = %session, psn = %e.error.target, "{e}");
                    }
                    assess::finished_event(op, result)
                });
            }
            Action::StartProbeRound {
                op,
                session,
                targets,
                refused,
                stagger,
                within,
            } => {
                for r in &refused {
                    tracing::warn!(session = %session, psn = %r.target, source = %r.source, "security: {r}");
                }
                let transport = self.io.probe_transport.clone();
                self.spawn(op, async move {
                    let round =
                        probe::run_round(&transport, &targets, &session, stagger, within).await;
                    Event::ProbeRoundFinished {
                        op,
                        outcomes: round.outcomes,
                    }
                });
            }
            Action::ArmTimer { timer, at, slot } => {
                let deadline = self.started + at.elapsed();
                self.timers.insert(slot, (timer, deadline));
            }
            Action::Cancel { op } => {
                if let Some(task) = self.tasks.remove(&op) {
                    task.abort();
                }
            }
            Action::PersistPsns(psns) => self.persist(psns),
            Action::CollectBundle { reason } => {
                let status = self.snapshot().to_value();
                self.hooks
                    .collect_bundle(&reason, self.profile.as_ref(), status);
            }
        }
    }

    fn spawn(&mut self, op: OpId, task: impl Future<Output = Event> + Send + 'static) {
        let tx = self.events_tx.clone();
        let handle = tokio::spawn(async move {
            // The receiver lives as long as the daemon; a send after shutdown
            // has nobody to tell.
            let _ = tx.send(task.await);
        });
        self.tasks.insert(op, handle.abort_handle());
    }

    /// Saves the machine's PSN list, keeping what the store knows about each
    /// (state sync port, last use) and stamping the connected PSN.
    fn persist(&mut self, psns: Vec<HostPort>) {
        let info = self.state.session_info();
        let session = info.map(|i| i.session.to_string());
        let exchange = info
            .zip(session.as_deref())
            .map(|(i, session)| store::LastExchange {
                host: &i.connected.host,
                state_sync_port: i.connected.state_sync_port,
                session,
            });
        let known = store::merge_known(&self.known, &psns, exchange, SystemTime::now());
        match store::save(&self.io.psn_store, &known) {
            Ok(()) => {
                tracing::debug!(file = %self.io.psn_store.display(), count = known.len(), "saved the PSN list")
            }
            Err(e) => {
                tracing::warn!("{e}; discovery will not start with these PSNs after a restart")
            }
        }
        self.known = known;
    }

    /// One log line per finished round, and one history line, both from
    /// the machine's record of the round: its verdict (judged once, by the
    /// machine) and how long it took.
    fn record_round(&mut self, op: OpId, session: &str) {
        // A round the step did not ignore is the machine's last one.
        let Some(last) = self.state.last_probe() else {
            return;
        };
        let verdict = &last.verdict;
        // Written straight into the log line, no strings built per round
        // (docs/benchmarks.md).
        let detail = Joined(&last.outcomes);
        let psn = OrEmpty(verdict.target());
        // The round's number as `counters.probe_rounds` counts it (the step
        // that finished it has already counted it); `op` is the machine's
        // internal id. A failed round is a fault worth a warning; blocked
        // and answered rounds are the normal course.
        // `took_ms`: from the round's start to its result, as the machine
        // timed it (the next round is due an interval after the start).
        let round = self.state.counters().probe_rounds;
        let label = verdict.label();
        let took_ms = u64::try_from(last.took.as_millis()).unwrap_or(u64::MAX);
        // A round like the last line written, within a minute of it, is
        // counted instead (daemon/round_log.rs); the history keeps it.
        if let Some(unlogged) =
            self.round_log
                .decide(session, verdict.kind(), &last.outcomes, Instant::now())
        {
            let fault = matches!(verdict, RoundVerdict::Fault { .. } | RoundVerdict::Empty);
            match (fault, unlogged) {
                (true, 0) => {
                    tracing::warn!(session = %session, psn = %psn, round, op = op.get(), took_ms, "probe round {label}: {detail}")
                }
                (true, n) => {
                    tracing::warn!(session = %session, psn = %psn, round, op = op.get(), took_ms, unlogged = n, "probe round {label}: {detail}")
                }
                (false, 0) => {
                    tracing::info!(session = %session, psn = %psn, round, op = op.get(), took_ms, "probe round {label}: {detail}")
                }
                (false, n) => {
                    tracing::info!(session = %session, psn = %psn, round, op = op.get(), took_ms, unlogged = n, "probe round {label}: {detail}")
                }
            }
        }
        self.history.append(SystemTime::now(), session, last);
    }

    fn snapshot(&self) -> status_report::Snapshot {
        status_report::Snapshot::of(Arc::clone(&self.state), self.now(), SystemTime::now())
    }

    fn publish(&self) {
        self.io.status.send_replace(self.snapshot());
    }
}

/// Every target's outcome, `, `-separated, as the round's log line gives
/// them.
struct Joined<'a>(&'a [crate::outcome::TargetOutcome]);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, o) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{o}")?;
        }
        Ok(())
    }
}

/// A value, or nothing when there is none (an empty `psn=` field).
struct OrEmpty<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrEmpty<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}

/// One line per transition, at the machine's severity. The line already
/// names the session and the PSN (`old -> new (reason; session=..; psn=..)`).
fn log_transition(t: &Transition) {
    match t.severity {
        Severity::Debug => tracing::debug!("{t}"),
        Severity::Info => tracing::info!("{t}"),
        Severity::Warn => tracing::warn!("{t}"),
        Severity::Error => tracing::error!("{t}"),
    }
}

#[cfg(test)]
mod tests;
