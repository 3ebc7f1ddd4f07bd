//! Every request gets an id: sent back in `X-Request-Id`, on every log line of the
//! request, and in `INTERNAL` errors, so an operator can find what went wrong.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The header that carries it both ways.
pub const HEADER: &str = "x-request-id";

/// A new random id.
pub fn fresh() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The id a proxy in front of us already gave the request, when it is a sane one.
pub fn accept_incoming(value: &str) -> Option<String> {
    let sane = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    sane.then(|| value.to_owned())
}

/// Runs `work` as the request `id`.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The id of the request being served, or a fresh one outside any request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| fresh())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken_from_clients() {
        assert_eq!(
            accept_incoming("abc-123_x.y").as_deref(),
            Some("abc-123_x.y")
        );
        for bad in ["", "a b", "a\nb", "ünï", &"x".repeat(65)] {
            assert_eq!(accept_incoming(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_id_is_seen_inside_its_request_only() {
        let inside = scope("req-1".into(), async { current() }).await;
        assert_eq!(inside, "req-1");
        assert_ne!(current(), "req-1");
    }
}
