//! Keyset pagination: stable under inserts, cheap at any depth.

/// Which page to read: up to `first` items after the `after` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<K> {
    pub after: Option<K>,
    pub first: u64,
}

/// One page of items, each with the key a following page starts after.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<K, T> {
    pub items: Vec<(K, T)>,
    pub has_next_page: bool,
}

impl<K, T> Page<K, T> {
    /// Builds a page from up to `first + 1` rows: the extra row only says there is more.
    pub(crate) fn from_overfetch(mut rows: Vec<(K, T)>, first: u64) -> Self {
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Self {
            items: rows,
            has_next_page,
        }
    }
}
