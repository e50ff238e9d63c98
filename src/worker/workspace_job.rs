//! Running a claimed workspace job (`verify`, `revoke`, `sync`) and
//! recording how it ended.

use pgrx::prelude::*;

use super::jobs::{self, Outcome, WorkspaceJob, WorkspaceJobKind};
use super::{bot, in_transaction, sync, Context};

/// Runs a claimed workspace job and records its outcome.
pub fn run(context: &Context, job: WorkspaceJob) {
    let client = in_transaction(super::exchange::client);
    let outcome = match client {
        Err(why) => Outcome::Failed(why),
        Ok(client) => match job.kind {
            WorkspaceJobKind::Verify => bot::verify(context, &client, &job.bot_id),
            WorkspaceJobKind::Revoke => bot::revoke(context, &client.endpoint, &client.credentials, &job.bot_id),
            WorkspaceJobKind::Sync => sync::run(context, &client, &job.bot_id),
        },
    };
    let claim = job.claim;
    let bot = job.bot_id.clone();
    let kind = job.kind;
    in_transaction(move || {
        let status = jobs::finish(&claim, outcome);
        // However a revoke ends, the tokens are not used again.
        if kind == WorkspaceJobKind::Revoke && matches!(status, Some("succeeded" | "failed")) {
            Spi::run_with_args(
                "UPDATE rbac.workspaces SET access_token = NULL, refresh_token = NULL WHERE bot_id = $1 AND status = 'revoked'",
                &[bot.as_str().into()],
            )
            .unwrap_or_else(|e| pgrx::error!("notion_rbac worker: erasing revoked tokens failed: {e}"));
        }
        if let Some(status) = status {
            pgrx::log!("notion_rbac worker: {} job {} for bot {bot} {status}", kind.as_str(), claim.id);
        }
    });
}
