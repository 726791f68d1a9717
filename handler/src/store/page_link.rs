//! The private links to each person's own page (`crate::http::own_page`).
//!
//! A link is a random token for one record and one address, mailed to
//! that address in a message of the outbox. The store keeps only its hash
//! ([`PageLink::hash`]); the token itself is in the waiting message until
//! the mail service has accepted it, and nowhere after. A link is revoked
//! by `mutualaid link revoke`, goes with its record, and acts only while
//! its address is the record's email. It is independent of the organizers'
//! link keys, which rotate.
//!
//! A link mailed to an email an existing record did not have (an update
//! from the public form that brings a new address) is **held**: its page
//! reads as a sign-up of the day the link was made and keeps a state of its
//! own, which its buttons change as they would anywhere, never the record.
//! Whoever typed that address learns nothing a first sign-up would not
//! show, and takes over nothing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Timestamp;

/// What a held link's page says was done through it (its buttons change
/// this, never the record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPage {
    /// "I don't need help anymore" pressed then.
    pub withdrawn_at: Option<Timestamp>,
    /// "Pause me" pressed: paused until then.
    pub paused_until: Option<Timestamp>,
    /// "Delete my data" pressed: the page looks deleted.
    pub deleted: bool,
    /// What the form that made the link asked, as it was sent: the page
    /// shows that, never the record's choices since (those are the
    /// person's, not whoever typed the address). False on a link made
    /// before this was kept: its page shows no request at all.
    #[serde(default)]
    pub sent: bool,
    /// That form asked for groceries.
    #[serde(default)]
    pub delivery: bool,
    /// That form asked for money for groceries.
    #[serde(default)]
    pub funding: bool,
    /// That form offered to shop.
    #[serde(default)]
    pub shopper: bool,
}

/// One private link, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLink {
    /// The SHA-256 of the token, hex: how the link is looked up.
    pub hash: String,
    /// The record it opens.
    pub person_id: String,
    /// The address it was mailed to.
    pub address: String,
    /// The language of the message that carried it (its page's first).
    pub lang: mutualaid_forms::Lang,
    /// When it was made.
    pub created_at: Timestamp,
    /// Held (see the module's docs): its own state, never the record's.
    pub held: Option<HeldPage>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// 1 when made, +1 on every change.
    pub version: u64,
    /// The record's expiry when it was made.
    pub expires_at: Timestamp,
}

/// A new random token (256 bits, lowercase hex): what the link carries.
pub fn new_token() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// The hash a token is kept and looked up by.
pub fn hash_of(token: &str) -> String {
    crate::links::hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape of one (before any lookup).
pub fn is_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

impl PageLink {
    /// A new link for `token`.
    pub fn new(
        token: &str,
        person_id: &str,
        address: &str,
        lang: mutualaid_forms::Lang,
        held: bool,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> PageLink {
        PageLink {
            hash: hash_of(token),
            person_id: person_id.to_owned(),
            address: address.to_owned(),
            lang,
            created_at: now,
            held: held.then(HeldPage::default),
            revoked_at: None,
            version: 1,
            expires_at,
        }
    }

    /// Its next version.
    pub fn next(&self) -> PageLink {
        PageLink {
            version: self.version + 1,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_random_and_kept_only_as_its_hash() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(is_token(&a));
        let link = PageLink::new(
            &a,
            "p",
            "x@example.org",
            mutualaid_forms::Lang::EN,
            false,
            0,
            1,
        );
        assert_eq!(link.hash, hash_of(&a));
        assert!(!link.hash.contains(&a));
        assert!(!is_token("../etc"));
    }
}
