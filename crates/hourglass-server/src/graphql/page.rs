//! Relay connections over storage's keyset pages.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use hourglass_storage::{Page, PageRequest};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ApiError, ApiResult};
use crate::settings::Settings;

/// Reads `first`/`after` into a storage page request, bounded by the settings.
pub fn request<K: DeserializeOwned + Serialize>(
    settings: &Settings,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<PageRequest<K>> {
    let max = settings.graphql.max_page_size;
    let first = match first {
        None => settings.graphql.default_page_size,
        Some(n) if n < 0 => return Err(ApiError::bad_input("first must not be negative")),
        Some(n) if n as u64 > max => {
            return Err(ApiError::BadUserInput {
                message: format!("first may be at most {max}"),
                field: Some("first".into()),
            });
        }
        Some(n) => n as u64,
    };
    let after = after
        .map(|cursor| {
            OpaqueCursor::<K>::decode_cursor(&cursor)
                .map(|c| c.0)
                .map_err(|_| ApiError::BadUserInput {
                    message: "after is not a cursor this connection gave out".into(),
                    field: Some("after".into()),
                })
        })
        .transpose()?;
    Ok(PageRequest { after, first })
}

/// Turns a storage page into a connection, mapping each item to its node.
pub fn connection<K, T, N>(
    page: Page<K, T>,
    has_previous_page: bool,
    node: impl Fn(T) -> N,
) -> Connection<OpaqueCursor<K>, N>
where
    K: Serialize + DeserializeOwned + Send + Sync,
    N: OutputType,
{
    let mut connection = Connection::new(has_previous_page, page.has_next_page);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(key, item)| Edge::new(OpaqueCursor(key), node(item))),
    );
    connection
}

/// The page of a list ranked in memory that `request` asks for, each item with its
/// rank (1 = first). The cursor is the rank of an item, so the next page starts after
/// it; pages of one data version line up because the list is the same.
pub fn ranked<T: Clone>(list: &[T], request: &PageRequest<i64>) -> Page<i64, (u64, T)> {
    let skip = usize::try_from(request.after.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
    let first = usize::try_from(request.first).unwrap_or(usize::MAX);
    let items: Vec<(i64, (u64, T))> = list
        .iter()
        .enumerate()
        .skip(skip)
        .take(first)
        .map(|(i, item)| (i as i64 + 1, (i as u64 + 1, item.clone())))
        .collect();
    Page {
        has_next_page: skip.saturating_add(items.len()) < list.len(),
        items,
    }
}
