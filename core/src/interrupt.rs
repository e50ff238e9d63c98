//! Cancellation of long evaluations.
//!
//! The core has no PostgreSQL types, so it cannot look at the server's
//! interrupt flags itself. The host registers a hook once (the extension:
//! a function that runs PostgreSQL's `CHECK_FOR_INTERRUPTS`, which raises
//! the cancel, timeout or terminate error); the engine, the lookups and the
//! validation runner call [`poll`] at every evaluation step, so a call with
//! no tuple reads at all (an in-memory validation file, a check answered
//! from contextual tuples) is still cancelled promptly. Without a hook,
//! [`poll`] does nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

static HOOK: AtomicUsize = AtomicUsize::new(0);

/// Registers the function [`poll`] calls. It may unwind (panic) to abandon
/// the evaluation; everything the core holds is released by `Drop`.
pub fn set_hook(hook: fn()) {
    HOOK.store(hook as usize, Ordering::Relaxed);
}

/// Gives the host a chance to cancel the current evaluation.
#[inline]
pub fn poll() {
    let hook = HOOK.load(Ordering::Relaxed);
    if hook != 0 {
        // SAFETY: only `set_hook` stores non-zero values, and they are
        // `fn()` pointers.
        let f: fn() = unsafe { std::mem::transmute::<usize, fn()>(hook) };
        f();
    }
    // After the host's check: a pending cancel goes first.
    crate::engine::free_set_aside();
}

/// Sorts `items` like `sort_unstable`, polling every 1024 comparisons: a
/// lookup may sort millions of ids, and a sort is long work like any
/// other. (The standard sort is panic-safe: a poll that unwinds leaves the
/// items in some order, and the caller drops them.)
pub fn sort_unstable<T: Ord>(items: &mut [T]) {
    sort_unstable_by(items, T::cmp)
}

/// [`sort_unstable`] by a comparison of the caller's.
pub fn sort_unstable_by<T>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    let mut compared = 0u32;
    items.sort_unstable_by(|a, b| {
        compared = compared.wrapping_add(1);
        if compared % 1024 == 0 {
            poll();
        }
        compare(a, b)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    static CALLS: AtomicU32 = AtomicU32::new(0);

    fn count() {
        CALLS.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn evaluation_polls_the_hook() {
        set_hook(count);
        let before = CALLS.load(Ordering::Relaxed);
        let schema = crate::lang::compile(
            "entity user {}\nentity doc {\n relation parent @doc\n relation viewer @user\n permission view = viewer or parent.view\n}",
        )
        .unwrap();
        let mut source = crate::engine::MemorySource::default();
        for i in 1..50 {
            source.insert_tuple(crate::tuple::parse_tuple(&format!("doc:{i}#parent@doc:{}", i - 1)).unwrap());
        }
        let obj = crate::tuple::parse_object("doc:49").unwrap();
        let subject = crate::tuple::parse_subject("user:a").unwrap();
        let allowed = crate::engine::check(
            &schema,
            &mut source,
            &obj,
            "view",
            &subject,
            &crate::engine::Context::default(),
            crate::engine::CheckOptions::default(),
        )
        .unwrap();
        assert!(!allowed);
        assert!(CALLS.load(Ordering::Relaxed) - before >= 49, "one poll per level at least");
    }

    #[test]
    fn long_sorts_poll_the_hook() {
        set_hook(count);
        let mut items: Vec<u32> = (0..100_000u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let before = CALLS.load(Ordering::Relaxed);
        sort_unstable(&mut items);
        assert!(items.windows(2).all(|w| w[0] <= w[1]));
        assert!(CALLS.load(Ordering::Relaxed) - before >= 100, "a poll every 1024 comparisons");
    }

    /// Turning a long request context or a long stored array into CEL
    /// values polls as it goes (every 4,096 items): a cancel lands before
    /// the first rule even runs.
    #[test]
    fn long_rule_values_poll_the_hook() {
        set_hook(count);
        let groups: Vec<String> = (0..100_000).map(|i| format!("g{i}")).collect();
        let data = serde_json::json!({ "groups": groups, "nested": { "list": [[1, 2], [3]] } });
        let before = CALLS.load(Ordering::Relaxed);
        let context = crate::engine::rules::context_value(data.as_object().unwrap());
        assert!(CALLS.load(Ordering::Relaxed) - before >= 24, "a poll every 4,096 items");
        assert_eq!(context.get_type().name(), "map");
        let before = CALLS.load(Ordering::Relaxed);
        let tags = crate::tuple::Value::StringArray(groups);
        let list = crate::engine::rules::attribute_to_cel(&tags);
        assert!(CALLS.load(Ordering::Relaxed) - before >= 24, "a poll every 4,096 items");
        assert_eq!(list.get_type().name(), "list");
    }

    /// A rule's loop that reads a rule variable polls on every turn: a
    /// rule over a long list in the request context stops at a cancel.
    #[test]
    fn rule_loops_poll_the_hook() {
        set_hook(count);
        let schema = crate::lang::compile(
            "entity user {}\nentity doc {\n relation viewer @user\n attribute tags string[]\n \
             permission view = viewer or shares(tags)\n}\nrule shares(tags string[]) {\n \
             context.data.groups.exists(g, g in tags)\n}",
        )
        .unwrap();
        let groups: Vec<String> = (0..5_000).map(|i| format!("g{i}")).collect();
        let ctx = crate::engine::Context::from_json(&serde_json::json!({ "data": { "groups": groups } })).unwrap();
        let mut source = crate::engine::MemorySource::default();
        let obj = crate::tuple::parse_object("doc:d").unwrap();
        let subject = crate::tuple::parse_subject("user:a").unwrap();
        let before = CALLS.load(Ordering::Relaxed);
        let allowed = crate::engine::check(&schema, &mut source, &obj, "view", &subject, &ctx, crate::engine::CheckOptions::default())
            .unwrap();
        assert!(!allowed);
        assert!(CALLS.load(Ordering::Relaxed) - before >= 5_000, "a poll per turn of the loop");
    }
}
