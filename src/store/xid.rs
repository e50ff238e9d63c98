//! Transaction ids as this extension keeps them: with their epoch (64
//! bits, never wrapping), and the backend's local transaction id.

use pgrx::pg_sys;

/// `xid` (of a live snapshot, so within 2^31 of the next id) with the
/// epoch it belongs to.
pub fn full_xid(xid: u32) -> u64 {
    // SAFETY: reads the shared next-transaction-id counter under its lock.
    let next = unsafe { pg_sys::ReadNextFullTransactionId() }.value;
    let (epoch, next_xid) = (next >> 32, next as u32);
    let epoch = if xid > next_xid { epoch.saturating_sub(1) } else { epoch };
    (epoch << 32) | u64::from(xid)
}

/// This backend's local transaction id (new for every transaction).
/// SAFETY: reads this backend's PGPROC.
#[cfg(not(any(feature = "pg17", feature = "pg18")))]
pub unsafe fn local_transaction_id() -> u32 {
    unsafe { (*pg_sys::MyProc).lxid }
}

#[cfg(any(feature = "pg17", feature = "pg18"))]
pub unsafe fn local_transaction_id() -> u32 {
    unsafe { (*pg_sys::MyProc).vxid.lxid }
}
