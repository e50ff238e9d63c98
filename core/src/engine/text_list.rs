//! Strings end to end in one buffer: many short strings (a context's
//! items, a lookup's ids) in two allocations instead of one each, so that
//! building them is cheap and freeing them — also when a cancelled call
//! unwinds — takes no time worth mentioning.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextList {
    text: String,
    /// Per string: where it ends in `text` (it starts where the previous
    /// one ends).
    ends: Vec<usize>,
}

impl TextList {
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`th string (panics past the end, like indexing).
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(a, b)| &self.text[a..b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_back_in_order() {
        let mut list = TextList::default();
        for s in ["a", "", "bc"] {
            list.push(s);
        }
        assert_eq!(list.len(), 3);
        assert_eq!(list.iter().collect::<Vec<_>>(), ["a", "", "bc"]);
        assert_eq!((list.get(0), list.get(1), list.get(2)), ("a", "", "bc"));
    }
}
