//! Text datums read in place, without a call into PostgreSQL.
//!
//! pgrx's `&str` conversion detoasts through a guarded call (a `sigsetjmp`
//! each time) even for the short, inline, uncompressed values every stored
//! id, type and relation name is (ids are at most 128 bytes: never
//! compressed or moved out of line). A cold check reads four such columns
//! of every row it meets; policies pass two constant names on every row.
//! Anything else — a compressed or out-of-line value — is left to
//! PostgreSQL (`None` here).

use pgrx::pg_sys;
use pgrx::varlena::{varatt_is_1b, varatt_is_1b_e, varatt_is_4b_u, vardata_any, varsize_any_exhdr};

/// The bytes of a text datum stored inline and uncompressed; None for
/// anything that needs detoasting.
/// SAFETY: `d` points to a varlena that outlives `'a`.
pub(crate) unsafe fn plain_bytes<'a>(d: pg_sys::Datum) -> Option<&'a [u8]> {
    // SAFETY: the header is read first and decides how the rest is read.
    unsafe {
        let p = d.cast_mut_ptr::<pg_sys::varlena>();
        let plain = varatt_is_4b_u(p) || (varatt_is_1b(p) && !varatt_is_1b_e(p));
        plain.then(|| std::slice::from_raw_parts(vardata_any(p).cast::<u8>(), varsize_any_exhdr(p)))
    }
}

/// [`plain_bytes`] as a string (None for bytes that are not UTF-8, as in
/// a database of another encoding; left to PostgreSQL). Stored ids and
/// names are ASCII, which is tested first: a quarter of the cost of full
/// UTF-8 validation on these short values.
/// SAFETY: as for [`plain_bytes`].
pub(crate) unsafe fn plain_str<'a>(d: pg_sys::Datum) -> Option<&'a str> {
    // SAFETY: as the caller's.
    let b = unsafe { plain_bytes(d) }?;
    if b.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(b) });
    }
    std::str::from_utf8(b).ok()
}
