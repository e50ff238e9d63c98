//! Consistency tokens (Zanzibar's zookies, SpiceDB's ZedTokens): after a
//! write commits, `rbac.consistency_token()` names what had committed; a
//! check, lookup or explanation given the token (`"at_least"` in its
//! context) reads data that includes all of it — on the primary and on a
//! hot standby, which first waits until it has replayed that far.
//!
//! A token is `<lsn>;<xmin>:<xmax>:<xip,…>;<system>`: the WAL position to
//! wait for on a standby, the snapshot taken when it was made (transaction
//! ids with their epoch, as `pg_current_snapshot()` writes them), and the
//! cluster's system identifier, which its physical standbys share: a token
//! from another cluster (whose positions and transaction ids mean nothing
//! here) is refused. (Tokens made before 0.21.0 name no cluster and are
//! taken as they are.) A read's
//! snapshot *covers* the token when every transaction the token saw as
//! completed is completed for it too — PostgreSQL's visibility rule again,
//! so whether a snapshot covers a token is exact, not a guess from clocks:
//! - the statement's own snapshot covers it: read as usual (the answer
//!   stays consistent with the rest of the caller's statement);
//! - else, under READ COMMITTED: on a standby wait until the token's
//!   position is replayed (`notion_rbac.consistency_timeout`, then 55000),
//!   and read in a new snapshot, which then covers it;
//! - else (REPEATABLE READ, SERIALIZABLE: the transaction's snapshot is
//!   fixed and older than the token): 40001, to be retried in a new
//!   transaction.

use std::cell::Cell;
use std::time::Instant;

use notion_rbac_core::{Error, ErrorKind};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

use super::xid::full_xid;
use crate::errors::raise;
use crate::guc;

/// A parsed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub lsn: u64,
    pub xmin: u64,
    pub xmax: u64,
    /// Sorted.
    pub xip: Vec<u64>,
    /// The system identifier of the cluster that made it (None: a token
    /// made before 0.21.0).
    pub system: Option<u64>,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let xip: Vec<String> = self.xip.iter().map(u64::to_string).collect();
        write!(f, "{:X}/{:X};{}:{}:{}", self.lsn >> 32, self.lsn & 0xFFFF_FFFF, self.xmin, self.xmax, xip.join(","))?;
        match self.system {
            // Signed, as pg_control_system() shows it.
            Some(system) => write!(f, ";{}", system as i64),
            None => Ok(()),
        }
    }
}

/// Running transactions a token may list at most: far more than any
/// server runs at once.
const MAX_TOKEN_XIDS: usize = 100_000;

fn bad_token(text: &str) -> ! {
    raise(
        Error::new(ErrorKind::InvalidArgument, format!("invalid consistency token \"{}\"", text.chars().take(80).collect::<String>()))
            .with_hint("pass the text rbac.consistency_token() returned, e.g. {\"at_least\": \"0/3000148;752:755:\"}"),
    )
}

impl Token {
    pub fn parse(text: &str) -> Token {
        let parsed = (|| {
            let mut fields = text.splitn(3, ';');
            let (lsn, snap) = (fields.next()?, fields.next()?);
            let system = match fields.next() {
                None => None,
                Some(system) => Some(system.parse::<i64>().ok()? as u64),
            };
            let (hi, lo) = lsn.split_once('/')?;
            // Each half is 32 bits, as PostgreSQL prints an LSN: wider ones
            // would be cut or mixed into the other half, not refused.
            let lsn = (u64::from(u32::from_str_radix(hi, 16).ok()?) << 32) | u64::from(u32::from_str_radix(lo, 16).ok()?);
            let mut parts = snap.splitn(3, ':');
            let xmin: u64 = parts.next()?.parse().ok()?;
            let xmax: u64 = parts.next()?.parse().ok()?;
            let list = parts.next()?;
            let mut xip = Vec::new();
            for x in list.split(',').filter(|x| !x.is_empty()) {
                // No snapshot has this many transactions running (a token
                // of millions only costs time to read and sort).
                if xip.len() == MAX_TOKEN_XIDS {
                    return None;
                }
                if xip.len() % 4096 == 0 {
                    pgrx::check_for_interrupts!();
                }
                xip.push(x.parse::<u64>().ok()?);
            }
            notion_rbac_core::interrupt::sort_unstable(&mut xip);
            // Each running transaction once (coverage counts them).
            let distinct = xip.windows(2).all(|w| w[0] < w[1]);
            (distinct && xmin <= xmax && xip.iter().all(|x| (xmin..xmax).contains(x))).then_some(Token { lsn, xmin, xmax, xip, system })
        })();
        parsed.unwrap_or_else(|| bad_token(text))
    }

    /// The token of this moment: a new snapshot, then the WAL position
    /// (inserted, on a primary; replayed, on a standby). In that order:
    /// every transaction the snapshot sees completed has its commit record
    /// before the position, so a standby that has replayed up to it sees
    /// them all.
    pub fn now() -> Token {
        refuse_in_parallel_mode("take a consistency token");
        // SAFETY: a new snapshot, which stays valid until the next
        // GetLatestSnapshot call, and plain reads of the WAL position.
        unsafe {
            let snap = &*pg_sys::GetLatestSnapshot();
            let lsn = if pg_sys::RecoveryInProgress() {
                pg_sys::GetXLogReplayRecPtr(std::ptr::null_mut())
            } else {
                let end = end_of_inserted(pg_sys::GetXLogInsertRecPtr());
                // Standbys receive only flushed WAL, and on a quiet primary
                // what follows the last commit (a pruned page, a hint's
                // full-page image) may wait ~15 s for a flush: the WAL
                // writer flushes up to here within wal_writer_delay, as
                // for an asynchronous commit. Only up to the end of the
                // last record, whose pages exist: the insert position past
                // a page header (after a switch, or a record that ended a
                // page) lies on a page not yet initialised, and a flush
                // asked up to it makes the WAL writer PANIC ("xlog write
                // request … is past end of log").
                pg_sys::XLogSetAsyncXactLSN(end);
                end
            };
            let mut xip: Vec<u64> = running(snap).into_iter().map(full_xid).collect();
            xip.sort_unstable();
            xip.dedup();
            Token {
                lsn,
                xmin: full_xid(u32::from(snap.xmin)),
                xmax: full_xid(u32::from(snap.xmax)),
                xip,
                system: Some(pg_sys::GetSystemIdentifier()),
            }
        }
    }
}

/// The insert position as the end of the last record inserted: where the
/// next record would start is past a page header when insertion sits on a
/// page or segment boundary (after `pg_switch_wal()`, say), a position a
/// standby's replay never reaches until another record comes — so the
/// header is left out, as a standby's replay position (the end of the last
/// record replayed) leaves it out.
fn end_of_inserted(lsn: u64) -> u64 {
    let maxalign = |n: usize| n.next_multiple_of(pg_sys::MAXIMUM_ALIGNOF as usize) as u64;
    let short = maxalign(std::mem::size_of::<pg_sys::XLogPageHeaderData>());
    let long = maxalign(std::mem::size_of::<pg_sys::XLogLongPageHeaderData>());
    // SAFETY: a read of a setting fixed at server start.
    let segment = u64::try_from(unsafe { pg_sys::wal_segment_size }).unwrap_or(0);
    if segment > 0 && lsn % segment == long {
        lsn - long
    } else if lsn % u64::from(pg_sys::XLOG_BLCKSZ) == short {
        lsn - short
    } else {
        lsn
    }
}

/// The transactions a snapshot sees as in progress (on a standby they are
/// all in `subxip`).
fn running(snap: &pg_sys::SnapshotData) -> Vec<u32> {
    // SAFETY: the arrays hold xcnt and subxcnt ids.
    unsafe {
        let mut v = Vec::new();
        if snap.xcnt > 0 && !snap.xip.is_null() {
            v.extend(std::slice::from_raw_parts(snap.xip.cast::<u32>(), snap.xcnt as usize));
        }
        if snap.subxcnt > 0 && !snap.subxip.is_null() {
            v.extend(std::slice::from_raw_parts(snap.subxip.cast::<u32>(), snap.subxcnt as usize));
        }
        v
    }
}

/// Whether `snap` sees every transaction `token` saw as completed as
/// completed too. Exact, except that a snapshot whose list of running
/// subtransactions overflowed only covers a token older than its `xmin`.
fn covers(snap: &pg_sys::SnapshotData, token: &Token) -> bool {
    let xmin = full_xid(u32::from(snap.xmin));
    if token.xmax <= xmin {
        return true;
    }
    if snap.suboverflowed {
        return false;
    }
    if completes_beyond(snap, token) {
        return false;
    }
    // Ids the snapshot sees running must not have completed for the token.
    running(snap).into_iter().map(full_xid).all(|x| x >= token.xmax || token.xip.binary_search(&x).is_ok())
}

/// Whether `token` saw as completed a transaction `snap` has not even
/// begun: ids in [`snap`'s xmax, the token's xmax) are future for the
/// snapshot, and each must have been running for the token too.
fn completes_beyond(snap: &pg_sys::SnapshotData, token: &Token) -> bool {
    let xmax = full_xid(u32::from(snap.xmax));
    xmax < token.xmax && token.xmax - xmax > token.xip.iter().filter(|x| **x >= xmax).count() as u64
}

thread_local! {
    /// Set by [`require`] when the next read must use a new snapshot.
    static FRESH: Cell<bool> = const { Cell::new(false) };
}

/// Whether the next read must use a new snapshot (and forget the request).
pub(super) fn take_fresh() -> bool {
    FRESH.with(|f| f.replace(false))
}

/// Makes the next read of this call include everything `token` names (see
/// the module docs): nothing to do, a wait on a standby and a new
/// snapshot, or an error.
pub fn require(text: &str) {
    let token = Token::parse(text);
    FRESH.with(|f| f.set(false));
    // SAFETY: a read of the control file's copy in shared memory.
    let here = unsafe { pg_sys::GetSystemIdentifier() };
    if let Some(system) = token.system.filter(|s| *s != here) {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "this consistency token was made by another database cluster",
            "",
        )
        .set_detail(format!(
            "the token names system identifier {}; this server's is {} (pg_control_system())",
            system as i64, here as i64
        ))
        .set_hint("pass a token only to the primary that made it and to its physical standbys")
        .report(PgLogLevel::ERROR);
    }
    // SAFETY: reads of the active snapshot and of transaction state.
    unsafe {
        if pg_sys::ActiveSnapshotSet() && covers(&*pg_sys::GetActiveSnapshot(), &token) {
            return;
        }
        refuse_in_parallel_mode("wait for a consistency token the statement's snapshot does not cover");
        if pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 {
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
                "this transaction's snapshot is older than the consistency token",
                "",
            )
            .set_detail(format!("token {token}"))
            .set_hint("run the call in a new transaction (or under READ COMMITTED, where each statement reads afresh)")
            .report(PgLogLevel::ERROR);
        }
        if pg_sys::RecoveryInProgress() {
            // (Not checked as on a primary: a standby's snapshots end at
            // the newest transaction a commit or abort record completed,
            // and transactions a primary's crash recovery ended have none,
            // so a legitimate token can lie beyond them until the next one.)
            wait_for_replay(&token);
        } else {
            // On a primary, every transaction a token of its history saw
            // completed has completed here, so a new snapshot has begun
            // them all. One that has not names transactions this server
            // never completed: a token from before a crash that lost
            // asynchronous commits, or from a history this server does not
            // follow. Reading without them would not honour the token.
            let fresh = &*pg_sys::GetLatestSnapshot();
            if completes_beyond(fresh, &token) {
                refuse_not_begun(&token, fresh);
            }
        }
    }
    FRESH.with(|f| f.set(true));
}

/// Refuses a token naming as completed transactions `fresh` has not begun
/// (see [`require`]).
fn refuse_not_begun(token: &Token, fresh: &pg_sys::SnapshotData) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        "this server has not completed every transaction the consistency token names",
        "",
    )
    .set_detail(format!(
        "the token names transactions up to {} as completed; this server has begun none past {}",
        token.xmax.saturating_sub(1),
        full_xid(u32::from(fresh.xmax)).saturating_sub(1)
    ))
    .set_hint("the token may be from before a crash that lost asynchronous commits, or from a server this one does not follow: take a new token after the write")
    .report(PgLogLevel::ERROR);
    unreachable!("an ERROR does not return")
}

/// Waits until this standby has replayed `token.lsn`, at most
/// `notion_rbac.consistency_timeout`.
fn wait_for_replay(token: &Token) {
    let timeout = guc::consistency_timeout();
    let started = Instant::now();
    loop {
        // SAFETY: reads of the replay position and the recovery state; the
        // latch wait is PostgreSQL's own, interruptible.
        unsafe {
            let replayed = pg_sys::GetXLogReplayRecPtr(std::ptr::null_mut());
            if replayed >= token.lsn {
                return;
            }
            if started.elapsed() >= timeout {
                let paused = pg_sys::GetRecoveryPauseState() != pg_sys::RecoveryPauseState::RECOVERY_NOT_PAUSED;
                ErrorReport::new(
                    PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!(
                        "this standby has replayed up to {:X}/{:X}, not yet the consistency token's {:X}/{:X}",
                        replayed >> 32,
                        replayed & 0xFFFF_FFFF,
                        token.lsn >> 32,
                        token.lsn & 0xFFFF_FFFF
                    ),
                    "",
                )
                .set_detail(format!("waited {} ms (notion_rbac.consistency_timeout)", timeout.as_millis()))
                .set_hint(if paused {
                    "recovery is paused on this standby (pg_wal_replay_resume() resumes it)"
                } else {
                    "retry, send the call to the primary, or raise notion_rbac.consistency_timeout"
                })
                .report(PgLogLevel::ERROR);
            }
            let rc = pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                5,
                pg_sys::PG_WAIT_EXTENSION,
            );
            if rc & pg_sys::WL_LATCH_SET as i32 != 0 {
                pg_sys::ResetLatch(pg_sys::MyLatch);
            }
            pg_sys::check_for_interrupts!();
        }
    }
}

/// Clears a request left by a call that failed before reading.
pub(crate) fn reset() {
    FRESH.with(|f| f.set(false));
}

/// A new snapshot cannot be taken in parallel mode (a plan with a Gather
/// runs the leader in it): refused with what to do, not PostgreSQL's
/// internal error.
fn refuse_in_parallel_mode(what: &str) {
    // SAFETY: reads backend state.
    if unsafe { crate::pg_ffi::IsInParallelMode() } {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("cannot {what} inside a parallel query"),
            "",
        )
        .set_hint("run it in a statement without a parallel plan (e.g. SET max_parallel_workers_per_gather = 0)")
        .report(PgLogLevel::ERROR);
    }
}
