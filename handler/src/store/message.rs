//! The outbox: every message to a person, written into the store in the
//! same plan as what causes it (a sign-up's receipt with the sign-up), and
//! sent later by the sender (`crate::outbox`).
//!
//! A [`Message`] holds ids, never a copy of personal data: the record it is
//! for, the address it goes to, the language, its [`MessageKind`] and the
//! reference of the submission it is about. It is rendered when it is sent
//! from the record as it is then, so erasing the record (which deletes its
//! messages, sent or waiting) cancels every message that would carry its
//! data. A message is sent with its id as `Message-ID` (and in a header of
//! ours): sent again after a crash between "accepted" and "recorded", it is
//! the same message, never a second one with another id.

use mutualaid_forms::Lang;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::page_link::{PageLink, new_token};
use super::{RateRing, Timestamp};

/// The most receipts one address gets in [`RECEIPT_WINDOW`] seconds, from
/// any form: a form cannot be used to flood a stranger's inbox.
pub const RECEIPTS_PER_ADDRESS: u64 = 3;
/// The window of [`RECEIPTS_PER_ADDRESS`]: a day.
pub const RECEIPT_WINDOW: i64 = 86_400;
/// How long a sent or given-up message is kept (ids only), for the
/// digest's self-report.
pub const SENT_KEPT_FOR: i64 = 3 * 86_400;

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// "We got your sign-up" (or donation interest): a first submission.
    Receipt,
    /// "We got your change": an update.
    ChangeReceipt,
    /// "Here is your link again", asked for on the page that sends it; also
    /// the new confirmed email's first link.
    LinkAgain,
    /// A security notice to the confirmed email: "the contact on your
    /// sign-up was changed", with their page's "Yes, that was me" and "I
    /// didn't make this change". Outside the receipts' caps.
    ContactChanged,
    /// To a volunteer: a neighbour near them needs groceries — area,
    /// household size, languages, distance, since when; no name, note or
    /// contact — with "Yes, I can shop for them" and "Not this time".
    Offer,
    /// To each side of a match: who the other is and how to reach them
    /// (confirmed contacts only), with "Can't connect?".
    Introduction,
    /// To the requester, some days after the introduction: "Did you get
    /// your groceries?".
    CheckIn,
    /// To the volunteer, once the requester said they got their groceries.
    ThankYou,
    /// Not mailed: the offer's answer time running out, due
    /// `offer_hours` after the mail service accepted the offer ([`Message::about`]
    /// is the offer email's id). The sender carries it out on its schedule.
    OfferRunsOut,
}

impl MessageKind {
    /// Its name in the store and the export.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Receipt => "receipt",
            MessageKind::ChangeReceipt => "change_receipt",
            MessageKind::LinkAgain => "link_again",
            MessageKind::ContactChanged => "contact_changed",
            MessageKind::Offer => "offer",
            MessageKind::Introduction => "introduction",
            MessageKind::CheckIn => "check_in",
            MessageKind::ThankYou => "thank_you",
            MessageKind::OfferRunsOut => "offer_runs_out",
        }
    }

    /// Whether it is about a case ([`Message::case_id`]): rendered from the
    /// case as it is when sent, and not sent once the case moved on.
    pub fn is_about_a_case(self) -> bool {
        matches!(
            self,
            MessageKind::Offer
                | MessageKind::Introduction
                | MessageKind::CheckIn
                | MessageKind::ThankYou
                | MessageKind::OfferRunsOut
        )
    }

    /// Whether it counts against [`RECEIPTS_PER_ADDRESS`] (security notices
    /// do not).
    pub fn is_receipt(self) -> bool {
        matches!(self, MessageKind::Receipt | MessageKind::ChangeReceipt)
    }
}

/// Where a message is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MessageState {
    /// Not sent yet: tried `attempts` times, next at `next_at`.
    Waiting {
        /// Tries so far that the mail service did not accept.
        attempts: u32,
        /// Not before then.
        next_at: Timestamp,
    },
    /// The mail service accepted it.
    Sent {
        /// When.
        at: Timestamp,
        /// Tries it took.
        attempts: u32,
    },
    /// The address was refused for good (a 5xx, a bounce): not tried again.
    GivenUp {
        /// When.
        at: Timestamp,
    },
    /// Not sent: mail to that address for that record was stopped before
    /// it was due ([`MailStop`]).
    Withheld {
        /// When.
        at: Timestamp,
    },
}

/// Why mail to an address of a record stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The person pressed Unsubscribe in their mail app (or "stop emails").
    Unsubscribed,
    /// The mail service refused the address for good.
    Refused,
}

impl StopReason {
    /// Its name in the digest's action line.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Unsubscribed => "unsubscribed",
            StopReason::Refused => "refused",
        }
    }
}

/// No more mail to `address` about record `person_id`: the person's
/// page and request stay; organizers reach them another way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailStop {
    /// The record.
    pub person_id: String,
    /// The address, normalized.
    pub address: String,
    /// Why.
    pub reason: StopReason,
    /// When.
    pub at: Timestamp,
    /// The record's expiry then.
    pub expires_at: Timestamp,
}

/// One message to one person, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its id: also its `Message-ID` (`<id@site host>`), so a message sent
    /// twice is one message.
    pub id: String,
    /// The record it is for.
    pub person_id: String,
    /// The address, normalized.
    pub to: String,
    /// The language it is written in (the form's).
    pub lang: Lang,
    /// What it says.
    pub kind: MessageKind,
    /// The reference of the submission it is about (for a message about a
    /// case: the case's id; for [`MessageKind::OfferRunsOut`]: the offer
    /// email's id).
    pub about: String,
    /// The case it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// The private link's token it carries, only until the mail service
    /// accepted it (the store keeps the link's hash alone).
    #[serde(default)]
    pub link: Option<String>,
    /// When it was written (with what caused it).
    pub created_at: Timestamp,
    /// Where it is.
    pub state: MessageState,
    /// 1 when written, +1 on every change of state.
    pub version: u64,
    /// When it is forgotten: the record's expiry while waiting; a few days
    /// after it was sent or given up.
    pub expires_at: Timestamp,
}

impl Message {
    /// A new message, waiting to be sent now.
    pub fn new(
        person_id: &str,
        to: &str,
        lang: Lang,
        kind: MessageKind,
        about: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Message {
        Message {
            id: uuid::Uuid::now_v7().simple().to_string(),
            person_id: person_id.to_owned(),
            to: to.to_owned(),
            lang,
            kind,
            about: about.to_owned(),
            case_id: None,
            link: None,
            created_at: now,
            state: MessageState::Waiting {
                attempts: 0,
                next_at: now,
            },
            version: 1,
            expires_at,
        }
    }

    /// When it is due, if it is waiting.
    pub fn due_at(&self) -> Option<Timestamp> {
        match self.state {
            MessageState::Waiting { next_at, .. } => Some(next_at),
            _ => None,
        }
    }

    /// Its next version in `state` (sent or given up: without the link's
    /// token, which lives only until then).
    pub fn moved_to(&self, state: MessageState, expires_at: Timestamp) -> Message {
        let link = match state {
            MessageState::Waiting { .. } => self.link.clone(),
            _ => None,
        };
        Message {
            link,
            state,
            version: self.version + 1,
            expires_at,
            ..self.clone()
        }
    }
}

/// The key under which the receipts sent to `address` are counted: a hash,
/// so the tally (which outlives no day) names nobody.
pub fn tally_key(address: &str) -> String {
    let digest = Sha256::digest(format!("receipts\0{}", address.to_lowercase()).as_bytes());
    format!("receipts:{}", crate::links::hex(&digest))
}

/// A message that carries a new private link, written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedMessage {
    /// The message (it holds the link's token until it is sent).
    pub message: Message,
    /// The link.
    pub link: PageLink,
}

impl LinkedMessage {
    /// A message of `kind` to `to` about `person`'s record (the submission
    /// `about`), with a new link to their page — `held` for an address the
    /// record has not confirmed.
    pub fn new(
        person: &super::Person,
        to: &str,
        kind: MessageKind,
        about: &str,
        held: bool,
        now: Timestamp,
    ) -> LinkedMessage {
        let token = new_token();
        let lang = person.submission.lang();
        let link = PageLink::new(&token, &person.id, to, lang, held, now, person.expires_at);
        let message = Message {
            link: Some(token),
            ..Message::new(&person.id, to, lang, kind, about, now, person.expires_at)
        };
        LinkedMessage { message, link }
    }
}

/// A receipt written with the submission it acknowledges: the message with
/// its link, and its address's tally moved on (over the version read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The message and the private link it carries.
    pub mail: LinkedMessage,
    /// [`tally_key`] of its address.
    pub tally_key: String,
    /// The tally with this receipt counted.
    pub tally: ReceiptTally,
}

/// The tally of the receipts to one address: the last ones' times (at most
/// [`RECEIPTS_PER_ADDRESS`] in the window), as the rate limit keeps a
/// client's requests.
pub type ReceiptTally = RateRing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_key_does_not_hold_the_address() {
        let key = tally_key("Maria@Example.org");
        assert!(!key.contains("maria"));
        assert_eq!(key, tally_key("maria@example.org"));
        assert_ne!(key, tally_key("maria@example.com"));
    }
}

/// The key addresses that said "this wasn't me" are kept under: an
/// HMAC-SHA256 key of the store's own, made once (SQLite: in its file;
/// DynamoDB: one item), so that the list of those addresses is a list of
/// keyed hashes, never the addresses — a copy of it alone names nobody.
#[derive(Clone, PartialEq, Eq)]
pub struct AddressKey(pub Vec<u8>);

impl std::fmt::Debug for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressKey(…)")
    }
}

impl AddressKey {
    /// A new random key (256 bits).
    pub fn generate() -> AddressKey {
        let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        AddressKey(key)
    }

    /// The keyed hash `address` (normalized) is kept under, hex.
    pub fn hash(&self, address: &str) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(mutualaid_forms::normalize::email(address).as_bytes());
        crate::links::hex(&mac.finalize().into_bytes())
    }
}
