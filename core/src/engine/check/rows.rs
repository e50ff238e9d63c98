//! Row buffers of the checker's reads: pooled buffers for single checks,
//! and reads shared across the checks of a batch over many subjects.

use rustc_hash::FxHashMap as HashMap;
use std::ops::Deref;
use std::rc::Rc;

use crate::tuple::SubjectRef;

/// Forward reads shared across the checks of a batch over many subjects
/// (the reads do not depend on the subject, the results do).
#[derive(Default)]
pub(super) struct SharedReads {
    pub(super) key: String,
    pub(super) rows: HashMap<Box<str>, Rc<[SubjectRef]>>,
}

/// The subjects of one forward read.
pub(crate) enum Rows {
    Pooled(Vec<SubjectRef>),
    Shared(Rc<[SubjectRef]>),
}

impl Deref for Rows {
    type Target = [SubjectRef];
    fn deref(&self) -> &[SubjectRef] {
        match self {
            Rows::Pooled(v) => v,
            Rows::Shared(r) => r,
        }
    }
}

/// Row buffers kept for reuse. A fixed array rather than a `Vec` so that
/// the pool itself never allocates; reads nested deeper than its size just
/// allocate a fresh buffer.
#[derive(Default)]
pub(super) struct RowPool {
    free: [Vec<SubjectRef>; 8],
    len: usize,
}

impl RowPool {
    pub(super) fn take(&mut self) -> Vec<SubjectRef> {
        if self.len == 0 {
            return Vec::new();
        }
        self.len -= 1;
        std::mem::take(&mut self.free[self.len])
    }
    pub(super) fn give(&mut self, mut buf: Vec<SubjectRef>) {
        if let Some(slot) = self.free.get_mut(self.len) {
            buf.clear();
            *slot = buf;
            self.len += 1;
        }
    }
}
