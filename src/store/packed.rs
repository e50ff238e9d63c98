//! Cached rows: the text fields of every row of one read end to end in one
//! allocation, with the end of each field in another.
//!
//! A read keeps its rows in two allocations whatever their number, instead
//! of one per row (and the growth of a vector of them): a cold check reads
//! a handful of small entities, each a few rows, and allocating was about
//! a tenth of its cost. A field is still one slice away.

use notion_rbac_core::tuple::SubjectRef;

use super::index_scan::IndexScan;

/// The rows of one read, each of the same number of text fields.
pub struct PackedRows {
    text: Box<str>,
    /// The end of every field of every row, row after row.
    ends: Box<[u32]>,
    width: usize,
}

/// One row of a [`PackedRows`].
#[derive(Clone, Copy)]
pub struct Row<'r> {
    text: &'r str,
    /// Where the row's first field starts.
    start: u32,
    /// The ends of the row's fields.
    ends: &'r [u32],
}

impl PackedRows {
    /// How many rows.
    pub fn len(&self) -> usize {
        self.ends.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The rows in the order they were read.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> + '_ {
        let text = &*self.text;
        (0..self.len()).map(move |r| {
            let at = r * self.width;
            let start = if at == 0 { 0 } else { self.ends[at - 1] };
            Row { text, start, ends: &self.ends[at..at + self.width] }
        })
    }
}

impl<'r> Row<'r> {
    /// Field `i`.
    pub fn field(&self, i: usize) -> &'r str {
        let start = if i == 0 { self.start } else { self.ends[i - 1] };
        &self.text[start as usize..self.ends[i] as usize]
    }

    /// Fields `at`, `at + 1`, `at + 2` as a subject (type, id, relation).
    pub fn subject(&self, at: usize) -> SubjectRef {
        SubjectRef { ty: self.field(at).to_owned(), id: self.field(at + 1).to_owned(), relation: self.field(at + 2).to_owned() }
    }

    /// Whether fields `at..at + 3` are `subject`.
    pub fn is_subject(&self, at: usize, subject: &SubjectRef) -> bool {
        self.field(at + 1) == subject.id && self.field(at) == subject.ty && self.field(at + 2) == subject.relation
    }
}

/// Collects the rows of one read into buffers kept between reads, and
/// hands them over as a [`PackedRows`] of exactly their size.
#[derive(Default)]
pub struct RowsBuilder {
    text: String,
    ends: Vec<u32>,
}

impl RowsBuilder {
    /// The bytes its buffers hold on to.
    pub fn room(&self) -> usize {
        self.text.capacity() + 4 * self.ends.capacity()
    }

    /// Starts a read.
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// Adds `columns` of the row the scan is on.
    pub fn push(&mut self, scan: &mut IndexScan, columns: &[i32]) {
        for c in columns {
            scan.push_text(*c, &mut self.text);
            // Field ends are 32-bit: a read of more than 4 GB of text (a
            // relation of tens of millions of subjects) ends in an error
            // when a field past that is sliced, never in a wrong field.
            self.ends.push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        }
    }

    /// Adds a row of the given fields (tests).
    #[cfg(any(test, feature = "pg_test"))]
    pub fn push_fields(&mut self, fields: &[&str]) {
        for f in fields {
            self.text.push_str(f);
            self.ends.push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        }
    }

    /// The rows added since [`Self::clear`], each `width` fields.
    pub fn finish(&mut self, width: usize) -> PackedRows {
        let rows = PackedRows { text: self.text.as_str().into(), ends: self.ends.as_slice().into(), width };
        self.clear();
        rows
    }
}

/// All tuples of one small entity: `relation, subject type, id, relation`.
pub type EntityTuples = PackedRows;

/// All tuples naming one small subject in the entities of one type:
/// `entity id, relation, subject relation`.
pub type SubjectTuples = PackedRows;
