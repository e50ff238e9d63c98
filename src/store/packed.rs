//! Cached rows: the text fields of one row end to end in one allocation.

use notion_rbac_core::tuple::SubjectRef;

use super::index_scan::IndexScan;

/// The text fields of one cached row end to end in a single allocation,
/// with the end of each field: a few times smaller than a `String` per
/// field, so the same memory holds more reads, and a field is still one
/// slice away.
pub struct Packed {
    text: Box<str>,
    ends: [u32; 4],
}

impl Packed {
    /// Packs the (at most four) columns of the row the scan is on.
    pub fn read(scan: &mut IndexScan, columns: &[i32], buf: &mut String) -> Packed {
        debug_assert!(columns.len() <= 4);
        buf.clear();
        let mut ends = [0u32; 4];
        for (i, c) in columns.iter().enumerate() {
            scan.push_text(*c, buf);
            ends[i] = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        }
        // Fields past the last column read as empty, never as a bad slice.
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        for end in ends.iter_mut().skip(columns.len()) {
            *end = len;
        }
        Packed { text: buf.as_str().into(), ends }
    }

    /// Field `i`.
    pub fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Fields `at`, `at + 1`, `at + 2` as a subject (type, id, relation).
    pub fn subject(&self, at: usize) -> SubjectRef {
        SubjectRef { ty: self.field(at).to_owned(), id: self.field(at + 1).to_owned(), relation: self.field(at + 2).to_owned() }
    }

    /// Whether fields `at..at + 3` are `subject`.
    pub fn is_subject(&self, at: usize, subject: &SubjectRef) -> bool {
        self.field(at) == subject.ty && self.field(at + 1) == subject.id && self.field(at + 2) == subject.relation
    }
}

/// All tuples of one small entity: `relation, subject type, id, relation`.
pub type EntityTuples = Vec<Packed>;

/// All tuples naming one small subject: `entity type, id, relation,
/// subject relation`.
pub type SubjectTuples = Vec<Packed>;
