//! The per-token request budget: no request with a token before the
//! `Retry-After` Notion last gave it (one `not_before` per bot, shared by
//! every job of the token), and pauses that still honour SIGTERM.

use std::time::{Duration, Instant};

use pgrx::bgworkers::BackgroundWorker;

use super::Context;

/// Longest wait for a `Retry-After` the worker holds still for; beyond it
/// the job is re-queued to run after the wait.
pub(super) const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Why a request may not go now.
#[derive(Debug)]
pub struct Held {
    pub why: &'static str,
    /// When it may (too long to wait for here).
    pub after: Option<Duration>,
    pub throttled: bool,
}

/// Sleeps `d` on the latch (other wake-ups are ignored). False if the
/// worker was asked to stop.
pub fn pause(context: &Context, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= until {
            return true;
        }
        if super::stopping() || !BackgroundWorker::wait_latch(Some((until - now).min(Duration::from_secs(1)))) {
            return false;
        }
        // Woken (a commit queued work) or a second gone: a code exchange
        // does not wait for this job's pause.
        super::exchanges_between(context);
    }
}

/// Waits until the bot's request budget allows another request (one
/// `not_before` per token, set from Retry-After: every job of the token
/// shares it). Err with the remaining wait when that is too long to hold
/// the worker for.
pub fn pace(context: &Context, bot_id: &str) -> Result<(), Held> {
    let not_before = context.not_before.borrow().get(bot_id).copied();
    let Some(at) = not_before else { return Ok(()) };
    let now = Instant::now();
    if at <= now {
        return Ok(());
    }
    let wait = at - now;
    if wait > LONGEST_WAIT {
        return Err(Held { why: "Notion asked to wait (Retry-After)", after: Some(wait), throttled: true });
    }
    if pause(context, wait) {
        Ok(())
    } else {
        Err(Held { why: "the worker is stopping", after: None, throttled: false })
    }
}
