//! What an operator sees of a running hourglass: metrics ([`meters`], scraped on
//! `/metrics` from its own listen address) and logs and traces ([`traces`]).

pub mod meters;
pub mod traces;
