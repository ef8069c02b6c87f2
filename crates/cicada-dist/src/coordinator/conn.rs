//! One worker's connection: the handshake (admit or refuse, with the reason on both sides),
//! then its messages into the shared state until it ends or goes silent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use cicada_report::model::WorkerStatus;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, mpsc};

use super::{Conn, Shared, is_final};
use crate::identity::{VERSION, token_matches};
use crate::protocol::{
    HANDSHAKE_TIMEOUT, Hello, MAX_HANDSHAKE_FRAME, PROTOCOL, ToCoordinator, ToWorker, read_magic,
    read_msg, read_msg_max, unix_ms, write_magic, write_msg,
};

pub(super) async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        read_magic(&mut rd).await?;
        read_msg_max::<_, ToCoordinator>(&mut rd, MAX_HANDSHAKE_FRAME).await
    })
    .await;
    let hello = match first {
        Ok(Ok(Some(ToCoordinator::Hello(h)))) => h,
        Ok(Ok(_)) => {
            shared.log.line(&format!(
                "cicada: {peer} did not start with a hello; closed"
            ));
            return;
        }
        Ok(Err(e)) => {
            shared.log.line(&format!(
                "cicada: {peer} is not a cicada worker: {e}; closed"
            ));
            return;
        }
        Err(_) => {
            shared.log.line(&format!(
                "cicada: {peer} sent no hello within {} s; closed",
                HANDSHAKE_TIMEOUT.as_secs()
            ));
            return;
        }
    };
    let who = format!("{} (pid {}) at {peer}", hello.hostname, hello.pid);
    let (tx, rx) = mpsc::unbounded_channel();
    let kill = Arc::new(Notify::new());
    let admitted = admit(&shared, hello, tx, Arc::clone(&kill));
    let answer = match &admitted {
        Ok((index, _)) => ToWorker::Accept {
            index: *index as u64,
            count: shared.opts.expect_workers,
            coordinator_id: shared.id.clone(),
        },
        Err(reason) => ToWorker::Refuse {
            reason: reason.clone(),
        },
    };
    let sent = async {
        write_magic(&mut wr).await?;
        write_msg(&mut wr, &answer).await
    }
    .await;
    let (index, conn_id) = match admitted {
        Ok(ok) => ok,
        Err(reason) => {
            shared
                .log
                .line(&format!("cicada: refused worker {who}: {reason}"));
            return;
        }
    };
    if let Err(e) = sent {
        detach(
            &shared,
            index,
            conn_id,
            &format!("the accept was not sent: {e}"),
        );
        return;
    }
    let attached = {
        let s = shared.lock();
        s.conns.iter().flatten().count()
    };
    shared.log.line(&format!(
        "cicada: worker {index} attached: {who} ({attached} of {} workers)",
        shared.opts.expect_workers
    ));
    shared.bump();
    tokio::spawn(writer(wr, rx));
    let why = loop {
        tokio::select! {
            msg = read_msg::<_, ToCoordinator>(&mut rd) => match msg {
                Ok(Some(m)) => on_message(&shared, index, conn_id, m),
                Ok(None) => break "it closed the connection".to_string(),
                Err(e) => break format!("its connection broke: {e}"),
            },
            () = kill.notified() => break format!(
                "nothing heard from it for {} s (heartbeat timeout)",
                shared.opts.heartbeat_timeout.as_secs_f64()
            ),
        }
    };
    detach(&shared, index, conn_id, &why);
}

async fn writer(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<ToWorker>) {
    while let Some(msg) = rx.recv().await {
        let quit = matches!(msg, ToWorker::Quit);
        if write_msg(&mut wr, &msg).await.is_err() || quit {
            return;
        }
    }
}

/// Admit a worker into a free slot, or say why not.
fn admit(
    shared: &Shared,
    hello: Hello,
    tx: mpsc::UnboundedSender<ToWorker>,
    kill: Arc<Notify>,
) -> Result<(usize, u64), String> {
    let opts = &shared.opts;
    if hello.protocol != PROTOCOL || hello.version != VERSION {
        return Err(format!(
            "version mismatch: the worker runs cicada {} (protocol {}), the coordinator cicada \
             {VERSION} (protocol {PROTOCOL}); run the same cicada everywhere",
            hello.version, hello.protocol
        ));
    }
    if let Some(expected) = opts.token.as_deref() {
        match hello.token.as_deref() {
            None => {
                return Err(
                    "no token: this coordinator requires --master-auth-token (or \
                     CICADA_MASTER_TOKEN) on its workers"
                        .into(),
                );
            }
            given if !token_matches(expected, given) => {
                return Err("bad token: the worker's --master-auth-token is not the \
                            coordinator's"
                    .into());
            }
            _ => {}
        }
    }
    if hello.scenario_hash != opts.scenario_hash {
        return Err(format!(
            "scenario mismatch: the worker's scenario {:?} ({}) is not the coordinator's {:?} \
             ({}); give every worker the same scenario file",
            hello.scenario, hello.scenario_hash, opts.scenario_name, opts.scenario_hash
        ));
    }
    let mut s = shared.lock();
    if s.quitting {
        return Err("the coordinator is shutting down".into());
    }
    if s.run_in_progress() {
        return Err(
            "late: the run already started; workers join before the start (or between the \
             runs of --web)"
                .into(),
        );
    }
    let Some(index) = s.conns.iter().position(Option::is_none) else {
        return Err(format!(
            "too many workers: the coordinator expects {} (--expect-workers) and all are \
             attached",
            opts.expect_workers
        ));
    };
    let id = s.next_conn_id();
    s.conns[index] = Some(Conn {
        id,
        hello: Hello {
            token: None,
            ..hello
        },

        tx,
        kill,
        last_heard: Instant::now(),
        rtt_ms: None,
        skew_ms: None,
    });
    Ok((index, id))
}

fn on_message(shared: &Shared, index: usize, conn_id: u64, msg: ToCoordinator) {
    let mut s = shared.lock();
    let s = &mut *s;
    let Some(conn) = s.conns[index].as_mut().filter(|c| c.id == conn_id) else {
        return;
    };
    conn.last_heard = Instant::now();
    let label = conn.label(index);
    if let ToCoordinator::Pong { ping_ms, worker_ms } = msg {
        let now = unix_ms(SystemTime::now());
        let rtt = now.saturating_sub(ping_ms) as f64;
        let skew = worker_ms as f64 - (ping_ms as f64 + rtt / 2.0);
        conn.rtt_ms = Some(rtt);
        conn.skew_ms = Some(skew);
        if let Some(m) = s
            .run
            .as_mut()
            .filter(|r| !r.ended)
            .and_then(|r| r.members.get_mut(index))
            .filter(|m| m.conn_id == conn_id)
        {
            m.rtt_ms = Some(rtt);
            m.skew_ms = Some(skew);
            m.last_seen = Instant::now();
        }
        return;
    }
    let Some(run) = s.run.as_mut().filter(|r| !r.ended) else {
        return;
    };
    let at = run.elapsed_s();
    let Some(member) = run
        .members
        .get_mut(index)
        .filter(|m| m.conn_id == conn_id && !is_final(m.status))
    else {
        return;
    };
    member.last_seen = Instant::now();
    member.last_seen_s = at;
    match msg {
        ToCoordinator::Started => {}
        ToCoordinator::Progress(p) => {
            member.status = WorkerStatus::Live;
            member.users = p.users;
            member.cpu_pct = p.cpu_pct;
            member.rss_bytes = p.rss_bytes;
            member.latest = Some(p.report);
        }
        ToCoordinator::Finished { report } => {
            member.status = WorkerStatus::Done;
            member.users = 0;
            member.latest = Some(*report);
        }
        ToCoordinator::StartFailed { reason } => {
            member.status = WorkerStatus::Failed;
            let failure = format!("{label} could not start: {reason}");
            shared
                .log
                .line(&format!("cicada: {failure}; stopping the run"));
            run.failure.get_or_insert(failure);
            run.stopping = true;
            let stop = ToWorker::Stop;
            for c in s.conns.iter().flatten() {
                let _ = c.tx.send(stop.clone());
            }
        }
        ToCoordinator::Hello(_) | ToCoordinator::Pong { .. } => {}
    }
    run.version += 1;
    shared.bump();
}

/// The connection ended: free its slot; a worker of the run in progress is lost.
fn detach(shared: &Shared, index: usize, conn_id: u64, why: &str) {
    let mut s = shared.lock();
    let s = &mut *s;
    let Some(conn) = s.conns[index].take_if(|c| c.id == conn_id) else {
        return;
    };
    let label = conn.label(index);
    drop(conn);
    let lost = s.run.as_mut().filter(|r| !r.ended).and_then(|run| {
        let at = run.elapsed_s();
        let member = run
            .members
            .get_mut(index)
            .filter(|m| m.conn_id == conn_id && !is_final(m.status))?;
        member.status = WorkerStatus::Lost;
        member.users = 0;
        run.version += 1;
        Some((at, run))
    });
    match lost {
        Some((at, run)) => {
            let last = run.members[index].last_seen_s;
            shared.log.line(&format!(
                "cicada: {label} lost at {at:.0} s: {why}; its data up to {last:.0} s is kept"
            ));
            if shared.opts.stop_on_worker_loss && !run.stopping {
                let failure = format!(
                    "{label} was lost at {at:.0} s and --stop-on-worker-loss stopped the run"
                );
                shared.log.line(&format!("cicada: {failure}"));
                run.failure.get_or_insert(failure);
                run.stopping = true;
                for c in s.conns.iter().flatten() {
                    let _ = c.tx.send(ToWorker::Stop);
                }
            }
        }
        None if !s.quitting => shared.log.line(&format!("cicada: {label} detached: {why}")),
        None => {}
    }
    shared.bump();
}
