//! Rules on a parsed document that async-graphql does not have built in: how many
//! aliases it may use (aliases let one small request ask for the same expensive
//! field many times), and no introspection when it is switched off (async-graphql
//! would answer `__schema: null` without an error).

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use crate::error::ErrorCode;

/// Refuses documents with more than `max_aliases` aliased fields (QUERY_TOO_COMPLEX),
/// and introspection when `introspection` is false (GRAPHQL_VALIDATION_FAILED).
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_aliases: usize,
    pub introspection: bool,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

/// Every selection set of the document: its operations' and its fragments'.
pub(super) fn selection_sets(document: &ExecutableDocument) -> impl Iterator<Item = &SelectionSet> {
    let operations = document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node);
    let fragments = document
        .fragments
        .values()
        .map(|f| &f.node.selection_set.node);
    operations.chain(fragments)
}

/// Whether a selection set, at any depth, asks for `__schema` or `__type`.
fn introspects(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "__schema" | "__type")
                || introspects(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => introspects(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Aliases in every operation and fragment of the document (a fragment's once,
/// however often it is spread: the complexity limit bounds the rest).
pub fn aliases_in(document: &ExecutableDocument) -> usize {
    selection_sets(document).map(count_aliases).sum()
}

fn refuse(message: String, code: ErrorCode) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases = aliases_in(&document);
        if aliases > self.max_aliases {
            return Err(refuse(
                format!(
                    "the query uses {aliases} aliases; the limit is {}",
                    self.max_aliases
                ),
                ErrorCode::QueryTooComplex,
            ));
        }
        if !self.introspection && selection_sets(&document).any(introspects) {
            return Err(refuse(
                "introspection is switched off on this server".into(),
                ErrorCode::GraphqlValidationFailed,
            ));
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_in_operations_fragments_and_inline_fragments() {
        let document = async_graphql::parser::parse_query(
            "query { a: workspaces { slug } b: workspaces { s: slug } ... on Query { c: viewer { role } } ...F }
             fragment F on Query { d: workspaces { slug } }",
        )
        .expect("parses");
        assert_eq!(aliases_in(&document), 5);
        assert!(!selection_sets(&document).any(introspects));
    }

    #[test]
    fn introspection_is_found_in_fragments_but_typename_is_not_introspection() {
        for (query, expected) in [
            ("{ __schema { types { name } } }", true),
            (
                "{ viewer { role } ... on Query { __type(name: \"Query\") { name } } }",
                true,
            ),
            (
                "query { ...F } fragment F on Query { __schema { queryType { name } } }",
                true,
            ),
            ("{ viewer { __typename role } }", false),
        ] {
            let document = async_graphql::parser::parse_query(query).expect("parses");
            assert_eq!(
                selection_sets(&document).any(introspects),
                expected,
                "{query}"
            );
        }
    }
}
