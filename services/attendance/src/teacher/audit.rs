//! ListAuditEvents: a session's trail, from the live copy and the archive.

use attn_domain::{audit::merge_trail, validate};
use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};

use super::no_such_session;
use crate::{context::Context, convert};

pub async fn list(ctx: &Context, caller: &Caller, attendance_id: &str) -> ApiResult<pb::ListAuditEventsResponse> {
    let id = validate::attendance_id(attendance_id)?;
    // The live copy first, then the archive: an entry the sweep moves in
    // between is read twice (and counted once), never missed.
    let live = match ctx.live.session(id).await? {
        Some(live) if !live.meta.is_owned_by(caller.school_number()) => return Err(no_such_session(id)),
        Some(_) => ctx.live.audit_entries(id).await?,
        None => {
            let owned = ctx.archive.attendance(id).await?.is_some_and(|meta| meta.is_owned_by(caller.school_number()));
            if !owned {
                return Err(no_such_session(id));
            }
            Vec::new()
        }
    };
    let archived = ctx.archive.audit_trail(id).await?;
    let events = merge_trail(live, archived).iter().map(|entry| convert::audit_event(id, entry)).collect();
    Ok(pb::ListAuditEventsResponse { events })
}
