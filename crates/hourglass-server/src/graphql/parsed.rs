//! Parsed documents by their text. A dashboard sends the same few documents over and
//! over, and parsing one (async-graphql's parser is a PEG parser) costs more than
//! answering a cached KPI.
//!
//! Registered as the innermost extension, so every rule on a parsed document
//! (`limits`) and validation still run on every request, cached or not. A document is
//! kept only once it has passed validation on this schema: a client cannot fill the
//! cache with documents the schema refuses. The checks async-graphql runs right after
//! parsing (recursion depth, directives) are skipped for a kept document: they depend
//! on its text and the schema's limits alone, and it passed them when it was kept —
//! which is why a cache belongs to one schema (`build_schema` is given its own).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult, Variables};
use lru::LruCache;

use super::limits::selection_sets;

/// Documents kept.
const ENTRIES: usize = 128;
/// Longer documents are parsed every time: dashboards send short ones.
const MAX_CACHED_LENGTH: usize = 8 * 1024;
/// Documents with more selections are parsed every time: a parsed selection is a
/// hundred bytes or more, whatever its text.
const MAX_CACHED_SELECTIONS: usize = 1_000;

type Cache = LruCache<String, Arc<ExecutableDocument>>;

/// The cache, and the schema extension that fills and reads it; clones share one cache.
#[derive(Clone)]
pub struct ParsedDocuments {
    cache: Arc<Mutex<Cache>>,
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

fn selections(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => 1 + selections(&field.node.selection_set.node),
            Selection::InlineFragment(fragment) => {
                1 + selections(&fragment.node.selection_set.node)
            }
            Selection::FragmentSpread(_) => 1,
        })
        .sum()
}

fn small_enough(query: &str, document: &ExecutableDocument) -> bool {
    query.len() <= MAX_CACHED_LENGTH
        && selection_sets(document).map(selections).sum::<usize>() <= MAX_CACHED_SELECTIONS
}

impl ParsedDocuments {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        // Every statement leaves the LRU consistent, so a panic elsewhere while it was
        // held does not make it wrong.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        self.lock().get(query).cloned()
    }

    fn keep(&self, query: String, document: Arc<ExecutableDocument>) {
        self.lock().put(query, document);
    }

    /// `inspect` of the request's document: the cached one, or the request's own
    /// parse (which the schema then runs without parsing again); `None` when it does
    /// not parse. For a transport that must look at a document before running it.
    pub fn inspect<R>(
        &self,
        request: &mut Request,
        inspect: impl FnOnce(&ExecutableDocument) -> R,
    ) -> Option<R> {
        if let Some(document) = self.cached(&request.query) {
            return Some(inspect(&document));
        }
        request.parsed_query().ok().map(inspect)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl ExtensionFactory for ParsedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ForRequest {
            documents: self.clone(),
            parsed: Mutex::new(None),
        })
    }
}

/// The extension for one request: what it parsed, until validation says whether to
/// keep it.
/// The operation a request runs: the one `operation_name` names, or the document's
/// only one (anything else runs nothing and fails); its name and type.
pub(super) fn operation_to_run<'d>(
    document: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<(Option<&'d str>, OperationType)> {
    let mut operations = document.operations.iter();
    let runs = match operation_name {
        Some(name) => operations.find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None => operations.next().filter(|_| operations.next().is_none()),
    };
    runs.map(|(name, operation)| (name.map(|n| n.as_str()), operation.node.ty))
}

struct ForRequest {
    documents: ParsedDocuments,
    parsed: Mutex<Option<(String, Arc<ExecutableDocument>)>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for ForRequest {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(document) = self.documents.cached(query) {
            return Ok(ExecutableDocument::clone(&document));
        }
        let document = next.run(ctx, query, variables).await?;
        if small_enough(query, &document) {
            let kept = (query.to_owned(), Arc::new(document.clone()));
            *self.parsed.lock().unwrap_or_else(PoisonError::into_inner) = Some(kept);
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let parsed = self
            .parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((query, document)) = parsed {
            self.documents.keep(query, document);
        }
        Ok(result)
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

        async fn n(&self) -> i32 {
            1
        }
    }

    fn schema(parsed: &ParsedDocuments) -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(parsed.clone())
            .limit_recursive_depth(3)
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
        assert_eq!(parsed.len(), 2);
    }

    #[tokio::test]
    async fn only_documents_the_schema_accepts_are_kept() {
        let parsed = ParsedDocuments::default();
        let schema = schema(&parsed);
        let refused = [
            "{ echo(".to_owned(),
            // Parses, but names a field the schema does not have.
            "{ nothing }".to_owned(),
            // Past the recursion limit.
            "{ ... on Query { ... on Query { ... on Query { ... on Query { echo(word: \"x\") } } } } }"
                .to_owned(),
        ];
        for query in &refused {
            for _ in 0..2 {
                let response = schema.execute(query.as_str()).await;
                assert!(!response.errors.is_empty(), "{query} ran");
            }
        }
        let long = format!("{{ echo(word: \"{}\") }}", "x".repeat(MAX_CACHED_LENGTH));
        assert!(schema.execute(long).await.errors.is_empty());
        // Short text, many selections.
        let wide = format!("{{ {} }}", "n ".repeat(MAX_CACHED_SELECTIONS + 1));
        assert!(schema.execute(wide).await.errors.is_empty());
        assert_eq!(parsed.len(), 0);
    }

    #[tokio::test]
    async fn a_document_a_transport_looked_at_is_still_checked_when_it_runs() {
        let parsed = ParsedDocuments::default();
        let schema = schema(&parsed);
        let deep = "{ ... on Query { ... on Query { ... on Query { ... on Query { echo(word: \"x\") } } } } }";
        // A transport looks first (HTTP does, to tell queries from mutations)…
        let mut request = Request::new(deep);
        let operations = parsed.inspect(&mut request, |d| d.operations.iter().count());
        assert_eq!(operations, Some(1));
        // …and the schema still refuses it.
        assert!(!schema.execute(request).await.errors.is_empty());
        assert_eq!(parsed.len(), 0);
        assert_eq!(parsed.inspect(&mut Request::new("{ echo("), |_| ()), None);
    }
}
