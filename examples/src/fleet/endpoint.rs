//! One simulated endpoint: the agent's pure state machine driven by the
//! agent's own drivers (discovery, assessment, probe rounds) over the
//! agent's TLS transport, from the endpoint's own loopback address.
//!
//! This is what `posture_sync::daemon::Daemon` does per step (run the
//! actions, keep the timers, feed results back as events), without what
//! belongs to a whole process: logs, history files, the PSN store, bundles,
//! the status socket, the network watcher.

use std::collections::HashMap;
use std::sync::Arc;

use posture_sync::assess::{self, AssessStage};
use posture_sync::machine::{
    self, Action, Event, OpId, PhaseName, Settings, Stage, State, Step, TimerSlot,
};
use posture_sync::outcome::Outcome;
use posture_sync::timing::MonoTime;
use posture_sync::transport::Transport;
use posture_sync::{discovery, probe};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::stats::{Kind, Stats};

/// What an endpoint needs from the fleet.
#[derive(Debug, Clone)]
pub struct EndpointIo {
    /// Its index in the fleet (its MAC and source address derive from it).
    pub index: usize,
    /// Client for discovery and assessment.
    pub transport: Transport,
    /// Client for probes.
    pub probe_transport: Transport,
    /// The posture checks (the agent's, with its default policy).
    pub assessor: assess::Assessor,
    /// The fleet's clock origin (the machine's `MonoTime` zero).
    pub started: Instant,
    /// Where request counts and phase changes go.
    pub stats: Arc<Stats>,
    /// `true` ends the endpoint.
    pub stop: watch::Receiver<bool>,
}

/// Runs one endpoint from the profile's settings until `io.stop` says so.
pub async fn run(io: EndpointIo, settings: Settings) {
    let mut e = Endpoint {
        state: State::new(Vec::new(), fastrand::u64(..)),
        phase: PhaseName::Idle,
        tasks: HashMap::new(),
        timers: HashMap::new(),
        events: mpsc::unbounded_channel(),
        io,
    };
    e.handle(Event::ProfileApplied(settings));
    let mut stop = e.io.stop.clone();
    loop {
        let next = e
            .timers
            .iter()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(slot, (_, at))| (*slot, *at));
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(event) = e.events.1.recv() => e.handle(event),
            () = async {
                match next {
                    Some((_, at)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some((id, _)) = next.and_then(|(slot, _)| e.timers.remove(&slot)) {
                    e.handle(Event::TimerFired { timer: id });
                }
            }
        }
        if *stop.borrow() {
            break;
        }
    }
    for (_, task) in e.tasks.drain() {
        task.abort();
    }
}

struct Endpoint {
    state: State,
    phase: PhaseName,
    tasks: HashMap<OpId, AbortHandle>,
    timers: HashMap<TimerSlot, (OpId, Instant)>,
    events: (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>),
    io: EndpointIo,
}

impl Endpoint {
    fn handle(&mut self, event: Event) {
        if let Event::DiscoveryFinished { op, .. }
        | Event::AssessmentFinished { op, .. }
        | Event::ProbeRoundFinished { op, .. } = &event
        {
            self.tasks.remove(op);
        }
        let now = MonoTime::from_elapsed(self.io.started.elapsed());
        let Step {
            state,
            actions,
            stale,
            ..
        } = machine::step(&self.state, event, now);
        if stale {
            return;
        }
        self.state = state;
        let phase = self.state.phase().name();
        if phase != self.phase {
            self.phase = phase;
            let connected = self.state.connected_psn().map(|psn| psn.port());
            self.io.stats.phase_changed(self.io.index, phase, connected);
        }
        for action in actions {
            self.act(action);
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::StartDiscovery {
                op,
                stage,
                session,
                targets,
                ..
            } => {
                // No gateway hop: the fleet has no switch (settings say so).
                let transport = self.io.transport.clone();
                let stats = Arc::clone(&self.io.stats);
                self.spawn(op, async move {
                    let result = match stage {
                        Stage::One => {
                            discovery::attempt_parallel(
                                &transport,
                                &targets,
                                session.as_ref(),
                                None,
                            )
                            .await
                        }
                        Stage::Two => {
                            discovery::attempt(&transport, &targets, session.as_ref()).await
                        }
                    };
                    match &result {
                        // Stage 1 asks its targets at once and cancels the
                        // others on the first answer: counted as the one
                        // that answered (psn-lab counts what it served).
                        Ok(_) => stats.request(Kind::Discovery, false),
                        Err(outcomes) => {
                            for _ in outcomes {
                                stats.request(Kind::Discovery, true);
                            }
                        }
                    }
                    Event::DiscoveryFinished { op, result }
                });
            }
            Action::StartAssessment { op, session, psn } => {
                let transport = self.io.transport.clone();
                let assessor = self.io.assessor.clone();
                let stats = Arc::clone(&self.io.stats);
                self.spawn(op, async move {
                    let result = assess::assess(&transport, &assessor, &psn, &session).await;
                    match &result {
                        Ok(_) => {
                            stats.request(Kind::Requirements, false);
                            stats.request(Kind::Report, false);
                        }
                        Err(e) => match e.stage {
                            AssessStage::Requirements => stats.request(Kind::Requirements, true),
                            AssessStage::Report => {
                                stats.request(Kind::Requirements, false);
                                stats.request(Kind::Report, true);
                            }
                        },
                    }
                    assess::finished_event(op, result)
                });
            }
            Action::StartProbeRound {
                op,
                session,
                targets,
                stagger,
                within,
                ..
            } => {
                let transport = self.io.probe_transport.clone();
                let stats = Arc::clone(&self.io.stats);
                self.spawn(op, async move {
                    let round =
                        probe::run_round(&transport, &targets, &session, stagger, within).await;
                    for o in &round.outcomes {
                        // The dACL blocking a probe is the normal course.
                        stats.request(Kind::Probe, matches!(o.outcome, Outcome::Failed(_)));
                    }
                    Event::ProbeRoundFinished {
                        op,
                        outcomes: round.outcomes,
                    }
                });
            }
            Action::ArmTimer { timer, at, slot } => {
                let deadline = self.io.started + at.elapsed();
                self.timers.insert(slot, (timer, deadline));
            }
            Action::Cancel { op } => {
                if let Some(task) = self.tasks.remove(&op) {
                    task.abort();
                }
            }
            // Nothing persists in the fleet: every endpoint starts afresh.
            Action::PersistPsns(_) | Action::CollectBundle { .. } => {}
        }
    }

    fn spawn(&mut self, op: OpId, task: impl Future<Output = Event> + Send + 'static) {
        let tx = self.events.0.clone();
        let handle = tokio::spawn(async move {
            // The endpoint may have stopped; nobody to tell then.
            let _ = tx.send(task.await);
        });
        self.tasks.insert(op, handle.abort_handle());
    }
}
