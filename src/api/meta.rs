//! Information about the extension itself.

use pgrx::prelude::*;

/// The extension's version (the crate version the library was built from).
#[pg_extern(immutable, parallel_safe)]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// This backend's read cache (see `notion_rbac.cache_rows`): rows held, the
/// limit, hits and misses of tuple reads, and how often the cache was
/// emptied because a snapshot saw other data (`invalidations`: a commit
/// happened) or because it was full (`evictions`); the ids of lookup
/// answers kept beside it (`notion_rbac.cache_lookup_ids`) and how often a
/// statement found one kept, or not; the node results checks keep beside
/// it (as the bound counts them: 8 more a subject), and
/// the checks (and protected rows) answered from them without a read;
/// the times other transactions' committed writes were met by dropping
/// only what they touched, not the whole cache.
#[pg_extern(volatile, parallel_restricted)]
fn cache_stats() -> TableIterator<
    'static,
    (
        name!(rows, i64),
        name!(row_limit, i64),
        name!(hits, i64),
        name!(misses, i64),
        name!(invalidations, i64),
        name!(evictions, i64),
        name!(kept_lookup_ids, i64),
        name!(kept_lookup_hits, i64),
        name!(kept_lookup_misses, i64),
        name!(kept_check_results, i64),
        name!(kept_check_answers, i64),
        name!(kept_across_writes, i64),
    ),
> {
    let (rows, limit, kept_ids, kept_results, s) = crate::store::read_cache::stats();
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    TableIterator::once((
        n(rows as u64),
        n(limit as u64),
        n(s.hits),
        n(s.misses),
        n(s.invalidations),
        n(s.evictions),
        n(kept_ids as u64),
        n(s.answer_hits),
        n(s.answer_misses),
        n(kept_results as u64),
        n(s.kept_check_answers),
        n(s.kept_across_writes),
    ))
}

/// What this backend's read cache is keyed by now. `writes`: the writes to
/// the extension's tables its snapshot sees, so commits that wrote none of
/// them leave the cache alone; `snapshot`: the whole snapshot, so every
/// commit anywhere starts it afresh — with the reason (the library not
/// preloaded, the setting off, a hot standby, a disabled recording trigger,
/// a registry overflowed by a long transaction). Also the registry of
/// writers: writers held, its generation, writers that have left it. For
/// an administrator asking why `rbac.cache_stats()` shows many
/// invalidations. (Under SERIALIZABLE no reads are shared between calls,
/// whatever the basis.)
#[pg_extern(volatile, parallel_restricted)]
fn cache_basis() -> TableIterator<
    'static,
    (
        name!(basis, &'static str),
        name!(reason, Option<&'static str>),
        name!(writers_held, Option<i64>),
        name!(generation, Option<i64>),
        name!(writers_left, Option<i64>),
    ),
> {
    let (reason, registry) = crate::store::writes::basis_report();
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    TableIterator::once((
        if reason.is_some() { "snapshot" } else { "writes" },
        reason,
        registry.map(|r| i64::from(r.0)),
        registry.map(|r| n(r.1)),
        registry.map(|r| n(r.2)),
    ))
}
