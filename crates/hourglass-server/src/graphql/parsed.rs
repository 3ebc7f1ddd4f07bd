//! Parsed documents by their text. A dashboard sends the same few documents over and
//! over, and parsing one (async-graphql's parser is a PEG parser) costs more than
//! answering a cached KPI. Registered as the innermost extension, so every rule on a
//! parsed document (`limits`) still runs on every request; validation does too. Only
//! documents that passed the checks async-graphql runs right after parsing are kept
//! (those depend on the text alone, so a cached document passes them again).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};
use lru::LruCache;

/// Documents kept.
const ENTRIES: usize = 128;
/// Longer documents are parsed every time: a parsed document is several times the
/// size of its text, and dashboards send short ones.
const MAX_CACHED_LENGTH: usize = 8 * 1024;

/// The extension; clones share one cache.
#[derive(Clone)]
pub struct ParsedDocuments {
    cache: Arc<Mutex<LruCache<String, ExecutableDocument>>>,
}

impl std::fmt::Debug for ParsedDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedDocuments").finish_non_exhaustive()
    }
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        let entries = NonZeroUsize::new(ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Self {
            cache: Arc::new(Mutex::new(LruCache::new(entries))),
        }
    }
}

impl ParsedDocuments {
    fn cached(&self, query: &str) -> Option<ExecutableDocument> {
        let mut cache = self.cache.lock().ok()?;
        cache.get(query).cloned()
    }

    fn keep(&self, query: &str, document: &ExecutableDocument) {
        if query.len() > MAX_CACHED_LENGTH {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.put(query.to_owned(), document.clone());
        }
    }

    /// `inspect` of the document `query` parses to, parsed here if it is not cached;
    /// `None` when it does not parse. For a transport that must
    /// look at a document before running it.
    pub fn with_document<R>(
        &self,
        query: &str,
        inspect: impl FnOnce(&ExecutableDocument) -> R,
    ) -> Option<R> {
        if let Ok(mut cache) = self.cache.lock()
            && let Some(document) = cache.get(query)
        {
            return Some(inspect(document));
        }
        // Not kept: only the schema keeps documents, once they passed the checks it
        // runs after parsing (recursion depth, directives).
        let document = async_graphql::parser::parse_query(query).ok()?;
        Some(inspect(&document))
    }
}

impl ExtensionFactory for ParsedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ParsedDocuments {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(document) = self.cached(query) {
            return Ok(document);
        }
        // Errors are not kept: a document that does not parse is answered at once
        // and is rarely sent twice. (A cached document passed the checks this runs
        // after parsing, which depend on its text alone.)
        let document = next.run(ctx, query, variables).await?;
        self.keep(query, &document);
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn echo(&self, word: String) -> String {
            word
        }
    }

    fn schema(parsed: &ParsedDocuments) -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(parsed.clone())
            .finish()
    }

    #[tokio::test]
    async fn each_text_is_answered_from_its_own_document() {
        let parsed = ParsedDocuments::default();
        let schema = schema(&parsed);
        // Same length, different documents: a cache keyed by anything less than the
        // whole text would answer one with the other.
        for _ in 0..2 {
            for word in ["aaaa", "bbbb"] {
                let response = schema
                    .execute(format!("{{ echo(word: \"{word}\") }}"))
                    .await;
                assert!(response.errors.is_empty(), "{:?}", response.errors);
                assert_eq!(
                    response.data.into_json().unwrap(),
                    serde_json::json!({ "echo": word })
                );
            }
        }
        assert_eq!(parsed.cache.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bad_and_long_documents_are_not_kept() {
        let parsed = ParsedDocuments::default();
        let schema = schema(&parsed);
        assert!(!schema.execute("{ echo(").await.errors.is_empty());
        let long = format!("{{ echo(word: \"{}\") }}", "x".repeat(MAX_CACHED_LENGTH));
        assert!(schema.execute(long).await.errors.is_empty());
        assert_eq!(parsed.cache.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_document_seen_by_a_transport_is_still_checked_when_it_runs() {
        let parsed = ParsedDocuments::default();
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(parsed.clone())
            .limit_recursive_depth(3)
            .finish();
        let deep = "{ ... on Query { ... on Query { ... on Query { ... on Query { echo(word: \"x\") } } } } }";
        // A transport looks first (HTTP does, to tell queries from mutations)…
        assert_eq!(
            parsed.with_document(deep, |d| d.operations.iter().count()),
            Some(1)
        );
        // …and the schema still refuses it, every time.
        for _ in 0..2 {
            let response = schema.execute(deep).await;
            assert!(
                !response.errors.is_empty(),
                "a document past the depth limit ran"
            );
        }
        assert_eq!(parsed.with_document("{ echo(", |_| ()), None);
    }
}
