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
