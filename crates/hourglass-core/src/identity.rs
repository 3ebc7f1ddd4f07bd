//! Who someone is, apart from what they did: an anonymous visitor turns out to be a
//! contact (Segment's `identify` and `alias`), a contact belongs to an organization
//! (`group`). Events that carry both a contact and an anonymous id say the first too.

use crate::event::ContactTraits;
use crate::ids::ExternalId;

/// One statement about a contact, checked.
///
/// Applying one is idempotent: the first contact an anonymous id is linked to stays
/// its contact; traits are set to what the statement says; membership and the
/// organization's name are filled in where missing, never replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub contact_id: ExternalId,
    /// The anonymous visitor id the contact was known by before: from now on its
    /// events, the earlier ones included, are the contact's.
    pub anonymous_id: Option<ExternalId>,
    /// The organization the contact belongs to, when it belongs to none yet.
    pub organization_id: Option<ExternalId>,
    /// The organization's name, when it has none yet.
    pub organization_name: Option<String>,
    pub traits: Option<ContactTraits>,
}
