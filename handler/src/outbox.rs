//! The sender: delivers the outbox's due messages ([`crate::store::message`])
//! through a [`Mailer`], and the texts they render to (receipts, links,
//! security notices, and the pairing's offers, introductions, check-ins and
//! thank-yous).
//!
//! [`deliver_due`] reads the waiting messages that are due, renders each
//! from the record as it is now ([`render`]), hands it to the mailer, and
//! only after the mail service accepted it records it sent (a plan over
//! the message's version). So:
//! - a crash before the send: the message is still waiting, and sent by the
//!   next run;
//! - a crash between "accepted" and "recorded": sent again by the next run
//!   with the **same** `Message-ID` (`<id@site host>`, and our own
//!   `X-Mutualaid-Message` header, which SES keeps while setting its own
//!   `Message-ID`; the outbox folder names the file by it, so a repeat
//!   replaces itself);
//! - a mail service that is down: tried again with backoff (30 s doubling
//!   to an hour), never dropped;
//! - an address refused for good (an SMTP 5xx, an SES bounce:
//!   [`bounced`]): given up, mail to it for that record stopped, and the
//!   organizers told, in one plan;
//! - mail to an address stopped (the person pressed Unsubscribe), or an
//!   address that said "this wasn't me": withheld.
//!
//! A message about a case ([`crate::offers`]) is rendered from the case as
//! it is when sent, and withheld once the case moved on (answered, closed,
//! a side deleted, a new match made since the one it was written for) or
//! its reader's email is no longer the verified one it was written to.
//! What an accepted message starts is written with its "sent": an offer's
//! answer time, an introduction's check-in. An offer or an introduction
//! withheld, given up or bounced is marked in its case, in the same plan
//! (an organizer calls instead: the digest's "who calls whom"); so is an
//! offer the mail service has not taken within `offer_hours`. The offer's
//! answer time is itself a waiting entry, never mailed, that a run carries
//! out when due. A record or case that does not decode holds back only the
//! message that needs it.
//!
//! Receipts are held to `receipts_per_hour` across all addresses: past it,
//! a receipt waits its turn (it is not an attempt, and nothing is lost).
//!
//! Under `mutualaid serve` a loop calls [`deliver_due`] every two seconds.

use std::sync::Arc;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use mutualaid_forms::FormId;
use mutualaid_site::Site;
use mutualaid_site::strings::MessageTexts;

use crate::digest::render::fill;
use crate::mail::{MailError, Mailer};
use crate::offers::CaseContext;
use crate::store::message::{
    MailStop, Message, MessageKind, MessageState, SENT_KEPT_FOR, StopReason,
};
use crate::store::{
    Actor, Admission, CaseAction, CaseDesk, Counter, IntakeStore, Person, Plan, SenderStore,
    StoreError, Timestamp, Write,
};

/// Our header carrying a message's id (SES replaces `Message-ID`).
pub const MESSAGE_ID_HEADER: &str = "X-Mutualaid-Message";
/// Our header carrying the id of the record a message is to (an opaque id,
/// nothing personal): a bounce finds the message by it, also when the
/// address is one no record lists (a change held, a former email).
pub const RECORD_HEADER: &str = "X-Mutualaid-Record";
/// The rate ring that counts receipts sent in the last hour, all addresses.
const RECEIPTS_SENT_KEY: &str = "sender:receipts";
/// Messages one run looks at.
const BATCH: usize = 200;
/// Messages handed to the mail service at once.
const IN_FLIGHT: usize = 8;
/// How long a receipt past `receipts_per_hour` waits before it is looked
/// at again.
const RECEIPTS_WAIT: i64 = 60;
/// The longest wait between two tries.
const LONGEST_BACKOFF: i64 = 3_600;

/// What the sender needs besides the store and the mailer.
#[derive(Clone)]
pub struct Letters {
    /// The site: its settings (`base_url`, names, `contact_email`, …) and
    /// its words in every language.
    pub site: Arc<Site>,
    /// The sender of messages to people.
    pub from: Mailbox,
    /// Receipts sent per hour at most, all addresses together.
    pub receipts_per_hour: u64,
}

impl Letters {
    /// Letters from `site`, sent as the network (its short name) from
    /// `from` (default: the site's `contact_email`).
    pub fn new(
        site: Arc<Site>,
        from: Option<&str>,
        receipts_per_hour: u64,
    ) -> Result<Letters, String> {
        let lang = site.config.languages.first().cloned().unwrap_or_default();
        let address = from.unwrap_or(&site.config.contact_email).trim().to_owned();
        let from = if address.contains('<') {
            address.parse()
        } else {
            format!("{} <{address}>", site.config.short_name_in(&lang)).parse()
        }
        .map_err(|_| format!("{address:?} is not an email address"))?;
        Ok(Letters {
            site,
            from,
            receipts_per_hour,
        })
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Accepted by the mail service.
    pub sent: usize,
    /// Not accepted; tried again later.
    pub retried: usize,
    /// Refused for good.
    pub given_up: usize,
    /// Held back by `receipts_per_hour`.
    pub deferred: usize,
    /// Not sent: mail to that address for that record was stopped, or the
    /// case it was about moved on.
    pub withheld: usize,
    /// Offers' answer times carried out ([`MessageKind::OfferRunsOut`]).
    pub timers: usize,
}

/// Why a message could not be rendered (never personal data).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The site has no words in the message's language or its default.
    #[error("no message words in {0}")]
    NoWords(String),
    /// The message could not be built (an address that does not parse).
    #[error("building message {id}: {why}")]
    Build {
        /// The message's id.
        id: String,
        /// What lettre said.
        why: String,
    },
}

/// How long to wait after `attempts` failed tries.
fn backoff(attempts: u32) -> i64 {
    (30i64 << attempts.min(7)).min(LONGEST_BACKOFF)
}

/// Sends every message due by `now` (at most a batch per call), records
/// each outcome, and says what it did. A store error stops the run (the
/// messages wait for the next); a mail error is the message's own.
pub async fn deliver_due<S, M>(
    store: &S,
    mailer: &M,
    letters: &Letters,
    now: Timestamp,
) -> Result<Delivery, StoreError>
where
    S: CaseDesk + IntakeStore,
    M: Mailer,
{
    let mut done = Delivery::default();
    let due = store.due_messages(now, BATCH).await?;
    if due.is_empty() {
        return Ok(done);
    }
    let address_key = store.address_key().await?;
    // The receipts' places in the hour, taken for the run in one write
    // (a run whose receipts do not all fit sends none and tries again).
    let receipts = due.iter().filter(|m| m.kind.is_receipt()).count() as u64;
    let mut places = 0;
    if receipts > 0 {
        let ring = store.rate_ring(RECEIPTS_SENT_KEY).await?;
        let wanted = receipts.min(ring.free_places(now, letters.receipts_per_hour, 3_600));
        if wanted > 0
            && let Admission::Admitted(_) = store
                .admit_places(
                    RECEIPTS_SENT_KEY,
                    now,
                    letters.receipts_per_hour,
                    3_600,
                    wanted,
                )
                .await?
        {
            places = wanted;
        }
    }
    let mut ready = Vec::new();
    for message in due {
        if message.kind == MessageKind::OfferRunsOut {
            // A timer, not a mail: the offer ends as "no answer" if still waiting.
            let ran = own_problem(crate::offers::run_out(store, &message, now).await)?;
            let state = if ran == Some(true) {
                MessageState::Sent {
                    at: now,
                    attempts: attempts_of(&message) + 1,
                }
            } else {
                waiting(&message, now, true)
            };
            move_on(store, &message, state).await?;
            done.timers += 1;
            continue;
        }
        let Some(person) = store.person(&message.person_id).await.ok().flatten() else {
            // Erased (its messages go with it) or unreadable: wait.
            move_on(store, &message, waiting(&message, now, true)).await?;
            done.retried += 1;
            continue;
        };
        let context = if message.kind.is_about_a_case() {
            match own_problem(crate::offers::context_of(store, &message).await)? {
                Some(Some(context)) => Some(context),
                None => {
                    // A side or the case does not decode: this one waits.
                    move_on(store, &message, waiting(&message, now, true)).await?;
                    done.retried += 1;
                    continue;
                }
                Some(None) => {
                    // The case moved on (answered, closed, a side deleted): not sent.
                    move_on(store, &message, MessageState::Withheld { at: now }).await?;
                    done.withheld += 1;
                    continue;
                }
            }
        } else {
            None
        };
        let stopped = store
            .mail_stop(&message.person_id, &message.to)
            .await?
            .is_some();
        // A message about a case goes only to the record's email as it is
        // now, verified, as when it was written: one changed since is a call.
        let moved = context.is_some()
            && !(person.email_verified()
                && person
                    .submission
                    .email()
                    .is_some_and(|email| email.eq_ignore_ascii_case(&message.to)));
        if stopped || moved || store.suppressed(&address_key.hash(&message.to)).await? {
            let more = undelivered(&message, context.as_ref())
                .into_iter()
                .collect();
            move_on_with(store, &message, MessageState::Withheld { at: now }, more).await?;
            done.withheld += 1;
            continue;
        }
        if message.kind.is_receipt() {
            if places == 0 {
                // Past `receipts_per_hour`: waits its turn (not an attempt).
                let state = MessageState::Waiting {
                    attempts: attempts_of(&message),
                    next_at: now + RECEIPTS_WAIT,
                };
                move_on(store, &message, state).await?;
                done.deferred += 1;
                continue;
            }
            places -= 1;
        }
        let email = match render(&message, &person, context.as_ref(), letters) {
            Ok(email) => email,
            Err(e) => {
                tracing::warn!(error = %e, "a message could not be rendered; it waits");
                move_on(store, &message, waiting(&message, now, true)).await?;
                done.retried += 1;
                continue;
            }
        };
        ready.push((message, person, context, email));
    }
    // A few in flight at once: an SMTP exchange is round trips, mostly waiting.
    for batch in ready.chunks(IN_FLIGHT) {
        let sent =
            futures_util::future::join_all(batch.iter().map(|(_, _, _, email)| mailer.send(email)))
                .await;
        for ((message, person, context, _), outcome) in batch.iter().zip(sent) {
            match outcome {
                Ok(()) => {
                    let state = MessageState::Sent {
                        at: now,
                        attempts: attempts_of(message) + 1,
                    };
                    let more = after_sent(message, context.as_ref(), now, letters);
                    move_on_with(store, message, state, more).await?;
                    done.sent += 1;
                }
                Err(e) if e.is_permanent() => {
                    tracing::warn!(message = %message.id, "the mail service refused an address for good; given up");
                    give_up(store, message, person, context.as_ref(), now).await?;
                    done.given_up += 1;
                }
                Err(e) if offer_overdue(message, now, letters) => {
                    tracing::warn!(message = %message.id, error = %e.kind(), "the mail service has not taken an offer within its answer time; an organizer calls instead");
                    let more = undelivered(message, context.as_ref()).into_iter().collect();
                    move_on_with(store, message, MessageState::Withheld { at: now }, more).await?;
                    done.withheld += 1;
                }
                Err(e) => {
                    tracing::warn!(message = %message.id, error = %e.kind(), "the mail service did not accept a message; it is tried again");
                    move_on(store, message, waiting(message, now, true)).await?;
                    done.retried += 1;
                }
            }
        }
    }
    // The digest's self-report, once per run (a lost count loses no mail).
    let today = crate::domain::day(now);
    for (counter, n) in [
        (Counter::MessagesSent, done.sent),
        (Counter::MessagesRetried, done.retried),
        (Counter::MessagesGivenUp, done.given_up),
    ] {
        if n > 0 {
            let _ = store.count_by(&today, counter, n as u64).await;
        }
    }
    Ok(done)
}

/// The mail service refused `message`'s address for good: the message is
/// given up, mail to that address for that record stops, and the next
/// digest tells the organizers to reach the person another way — one plan.
/// Also what an SES bounce does ([`bounced`]).
async fn give_up<S: SenderStore>(
    store: &S,
    message: &Message,
    person: &Person,
    context: Option<&CaseContext>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let stop = MailStop {
        person_id: message.person_id.clone(),
        address: message.to.clone(),
        reason: StopReason::Refused,
        at: now,
        expires_at: person.expires_at,
    };
    let stopped_before = store
        .mail_stop(&message.person_id, &message.to)
        .await?
        .is_some();
    let mut more = Vec::new();
    if !stopped_before {
        more.push(Write::MailStop { stop });
        more.push(Write::Action(CaseAction::mail_stopped(
            &message.person_id,
            Actor::Store,
            StopReason::Refused.name(),
            now,
            person.expires_at,
        )));
    }
    more.extend(undelivered(message, context));
    move_on_with(store, message, MessageState::GivenUp { at: now }, more).await
}

/// What a message about a case that will not be delivered (given up,
/// withheld, bounced) changes in its case: an offer becomes a call and
/// never runs out as "no answer"; an introduction becomes a call in the
/// digest's "who calls whom". Nothing for other messages (a check-in not
/// delivered leaves the digest's "still going?" review).
fn undelivered(message: &Message, context: Option<&CaseContext>) -> Option<Write> {
    let case = &context?.case;
    let mut next = case.clone();
    match message.kind {
        MessageKind::Offer => {
            let offer = next.offer.as_mut()?;
            if offer.undelivered {
                return None;
            }
            offer.undelivered = true;
        }
        MessageKind::Introduction => {
            let introduced = next.introduced.as_mut()?;
            let by_email = if message.person_id == case.person_id {
                &mut introduced.requester_by_email
            } else {
                &mut introduced.volunteer_by_email
            };
            if !*by_email {
                return None;
            }
            *by_email = false;
        }
        _ => return None,
    }
    next.version += 1;
    Some(Write::Case {
        case: next,
        expected: case.version,
    })
}

/// An offer the mail service has not taken within `offer_hours` of being
/// made: its answer would come later than anyone should wait, so it is
/// not tried again; the digest makes it a call.
fn offer_overdue(message: &Message, now: Timestamp, letters: &Letters) -> bool {
    message.kind == MessageKind::Offer
        && now - message.created_at >= i64::from(letters.site.config.offer_hours) * 3_600
}

/// What a message accepted by the mail service starts, written with its
/// "sent": an offer's answer time (`offer_hours` from now); an
/// introduction to the requester's check-in (`checkin_days` from now).
fn after_sent(
    message: &Message,
    context: Option<&CaseContext>,
    now: Timestamp,
    letters: &Letters,
) -> Vec<Write> {
    let Some(context) = context else {
        return Vec::new();
    };
    let config = &letters.site.config;
    match message.kind {
        MessageKind::Offer => vec![Write::Message {
            message: crate::offers::offer_timer(message, context, now, config.offer_hours),
            expected: 0,
        }],
        MessageKind::Introduction if message.person_id == context.requester.id => {
            let mail = crate::offers::check_in(message, context, now, config.checkin_days);
            vec![
                Write::Message {
                    message: mail.message,
                    expected: 0,
                },
                Write::PageLink {
                    link: mail.link,
                    expected: 0,
                },
            ]
        }
        _ => Vec::new(),
    }
}

/// An SES bounce (permanent) or complaint for the message whose id is
/// `id` (our `X-Mutualaid-Message` header), sent to `address`: given up as
/// if refused when sent. The message is looked for under `record` (our
/// `X-Mutualaid-Record` header, if the event carried it), then under the
/// records that list `address`. Returns whether such a message was found.
pub async fn bounced<S: SenderStore + IntakeStore>(
    store: &S,
    id: &str,
    record: Option<&str>,
    address: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(contact) = crate::erase::Contact::email(address) else {
        return Ok(false);
    };
    let listing = store.sharing(&contact.keys()).await?;
    let candidates = record
        .filter(|r| !r.is_empty())
        .into_iter()
        .map(str::to_owned)
        .chain(listing.into_iter().map(|(_, person_id)| person_id));
    for person_id in candidates {
        let Some(message) = store
            .messages_of(&person_id)
            .await?
            .into_iter()
            .find(|m| m.id == id && m.to.eq_ignore_ascii_case(address))
        else {
            continue;
        };
        let Some(person) = store.person(&person_id).await.ok().flatten() else {
            return Ok(false);
        };
        let context = crate::offers::context_of(store, &message).await?;
        give_up(store, &message, &person, context.as_ref(), now).await?;
        let _ = store
            .count_by(&crate::domain::day(now), Counter::MessagesGivenUp, 1)
            .await;
        return Ok(true);
    }
    Ok(false)
}

/// Lifts "this wasn't me" from `address` (`mutualaid contacts allow`, the
/// digest function's `{"contacts": {"allow": …}}`): returns whether it had
/// said it.
pub async fn allow<S: IntakeStore>(store: &S, address: &str) -> Result<bool, StoreError> {
    let hash = store.address_key().await?.hash(address);
    if !store.suppressed(&hash).await? {
        return Ok(false);
    }
    let plan = Plan {
        writes: vec![Write::Unsuppress { hash }],
    };
    store.carry_out(&plan).await.map(|()| true)
}

fn attempts_of(message: &Message) -> u32 {
    match message.state {
        MessageState::Waiting { attempts, .. } | MessageState::Sent { attempts, .. } => attempts,
        MessageState::GivenUp { .. } | MessageState::Withheld { .. } => 0,
    }
}

fn waiting(message: &Message, now: Timestamp, failed: bool) -> MessageState {
    let attempts = attempts_of(message) + u32::from(failed);
    MessageState::Waiting {
        attempts,
        next_at: now + backoff(attempts.saturating_sub(1)),
    }
}

/// A record or case that does not decode stops only the message that
/// needs it (`None`: that message waits; the digest names the record); the
/// store being down or a conflict stops the run as before.
fn own_problem<T>(read: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::Unreadable { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Records `message` in `state`, over the version read. A conflict (the
/// record was erased meanwhile, or another sender moved it) is not an
/// error: the message is where someone else put it.
async fn move_on<S: SenderStore>(
    store: &S,
    message: &Message,
    state: MessageState,
) -> Result<(), StoreError> {
    move_on_with(store, message, state, Vec::new()).await
}

/// [`move_on`], with `more` writes in the same plan.
async fn move_on_with<S: SenderStore>(
    store: &S,
    message: &Message,
    state: MessageState,
    more: Vec<Write>,
) -> Result<(), StoreError> {
    let expires_at = match state {
        MessageState::Waiting { .. } => message.expires_at,
        MessageState::Sent { at, .. }
        | MessageState::GivenUp { at }
        | MessageState::Withheld { at } => at + SENT_KEPT_FOR,
    };
    let mut writes = vec![Write::Message {
        message: message.moved_to(state, expires_at),
        expected: message.version,
    }];
    writes.extend(more);
    let plan = Plan { writes };
    match store.carry_out(&plan).await {
        Ok(()) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A date in `texts`' words, in the site's time zone.
pub fn spoken_date(texts: &MessageTexts, at: Timestamp, time_zone: &str) -> String {
    let Some(day) = jiff::Timestamp::from_second(at).ok().and_then(|t| {
        jiff::tz::TimeZone::get(time_zone)
            .ok()
            .map(|z| t.to_zoned(z))
    }) else {
        return String::new();
    };
    let month = texts
        .months
        .get(usize::try_from(day.month() - 1).unwrap_or(0))
        .cloned()
        .unwrap_or_else(|| day.month().to_string());
    texts
        .date
        .replace("{day}", &day.day().to_string())
        .replace("{month}", &month)
        .replace("{year}", &day.year().to_string())
}

/// A paragraph of text with its links: `(text, url)` where the text holds
/// `{url}` (or no link).
type Paragraph = (String, Option<String>);

/// The message, rendered now from `person`'s record: plain text and HTML,
/// every link in both. A receipt holds none of the answers, not even the
/// name, and a subject that says only the network's name and that a form
/// came in. A message about a case is rendered from `case` (read when it
/// is sent: [`crate::offers::context_of`]).
pub fn render(
    message: &Message,
    person: &Person,
    case: Option<&CaseContext>,
    letters: &Letters,
) -> Result<lettre::Message, RenderError> {
    let site = &letters.site;
    let config = &site.config;
    let lang = if site.strings.contains_key(message.lang.code()) {
        message.lang.code().to_owned()
    } else {
        config.languages.first().cloned().unwrap_or_default()
    };
    let strings = site
        .strings
        .get(&lang)
        .ok_or_else(|| RenderError::NoWords(lang.clone()))?;
    let texts = &strings.messages;
    let organization = config.short_name_in(&lang);
    let when = spoken_date(texts, message.created_at, config.time_zone_name());
    let form = person.submission.form();
    let (subject, received, next) = match (message.kind, form) {
        (kind, _) if kind.is_about_a_case() => {
            let Some(case) = case else {
                return Err(RenderError::Build {
                    id: message.id.clone(),
                    why: "a message about a case without its case".into(),
                });
            };
            let (subject, paragraphs) =
                case_paragraphs(message, person, case, strings, &lang, letters);
            let mut paragraphs = paragraphs;
            paragraphs.push((texts.reply.clone(), None));
            paragraphs.push((config.organization.get(&lang).to_owned(), None));
            let subject = subject.replace("{organization}", organization);
            return build_email(message, &subject, &paragraphs, &lang, letters);
        }
        (MessageKind::LinkAgain, _) => (
            &texts.link_subject,
            &texts.link_sent,
            Some(texts.link_ignore.clone()),
        ),
        (MessageKind::ContactChanged, _) => (
            &texts.contact_subject,
            &texts.contact_changed,
            Some(texts.contact_next.clone()),
        ),
        (MessageKind::ChangeReceipt, _) => (
            &texts.change_subject,
            &texts.change_received,
            None::<String>,
        ),
        (MessageKind::Receipt, FormId::Donate) => (
            &texts.donate_subject,
            &texts.donate_received,
            Some(texts.donate_next.clone()),
        ),
        (_, _) => (
            &texts.signup_subject,
            &texts.signup_received,
            Some(
                texts
                    .signup_next
                    .of(&lang, u64::from(config.contact_within_days)),
            ),
        ),
    };
    let subject = subject.replace("{organization}", organization);
    let mut paragraphs: Vec<Paragraph> = vec![(received.replace("{date}", &when), None)];
    paragraphs.extend(next.map(|n| (n, None)));
    if let Some(token) = &message.link {
        paragraphs.push((texts.own_page.clone(), Some(own_page_url(config, token))));
    }
    let not_you = message
        .link
        .as_ref()
        .map(|token| (texts.not_you.clone(), Some(not_me_url(config, token))));
    if form == FormId::Signup && message.kind.is_receipt() {
        paragraphs.push((texts.urgent.replace("{phone}", &config.urgent_phone), None));
        if let Some(url) = &config.food_bank_url {
            paragraphs.push((texts.food_today.clone(), Some(url.clone())));
        }
        paragraphs.push((texts.recurring.clone(), Some(config.discord_url.clone())));
    }
    paragraphs.push((texts.reply.clone(), None));
    paragraphs.extend(not_you);
    paragraphs.push((config.organization.get(&lang).to_owned(), None));
    build_email(message, &subject, &paragraphs, &lang, letters)
}

/// The subject and paragraphs of a message about a case, in `lang`, to
/// `reader`: an offer names no one and gives no contact; an introduction
/// gives the other side's confirmed contacts only (a contact still
/// pending is never in `submission`).
fn case_paragraphs(
    message: &Message,
    reader: &Person,
    context: &CaseContext,
    strings: &mutualaid_site::strings::Strings,
    lang: &str,
    letters: &Letters,
) -> (String, Vec<Paragraph>) {
    use crate::offers::{household_line, languages_line};
    let config = &letters.site.config;
    let t = &strings.pairing;
    let page = |extra: &str| {
        message.link.as_ref().map(|token| {
            format!(
                "{}&case={}{extra}",
                own_page_url(config, token),
                context.case.id
            )
        })
    };
    let reach = |p: &Person| {
        let mut ways = Vec::new();
        if let Some(phone) = p.submission.phone() {
            ways.push(fill(&t.reach_phone, &[("phone", phone)]));
        }
        if let Some(email) = p.submission.email() {
            ways.push(fill(&t.reach_email, &[("email", email)]));
        }
        fill(&t.reach, &[("contact", &ways.join(&t.reach_or))])
    };
    let requester = &context.requester;
    let mut out: Vec<Paragraph> = Vec::new();
    let subject = match message.kind {
        MessageKind::Offer => {
            let since = spoken_date(
                &strings.messages,
                context.case.opened_at,
                config.time_zone_name(),
            );
            out.extend(
                crate::offers::offer_lines(strings, lang, context, &since)
                    .into_iter()
                    .map(|l| (l, None)),
            );
            out.push((t.offer_no_details.clone(), None));
            out.push((t.offer_yes.clone(), page("#answer")));
            out.push((t.offer_no.clone(), page("#answer")));
            out.push((t.offer_time.of(lang, u64::from(config.offer_hours)), None));
            &t.offer_subject
        }
        MessageKind::Introduction if reader.id == requester.id => {
            if let Some(v) = &context.volunteer {
                let first = crate::offers::first_name(v);
                out.push((fill(&t.intro_requester, &[("volunteer", first)]), None));
                out.push((reach(v), None));
                out.push((languages_line(strings, v), None));
            }
            out.push((
                if context.network_pays {
                    t.pay_network.clone()
                } else {
                    t.pay_self.clone()
                },
                None,
            ));
            out.push((t.cant_connect.clone(), page("")));
            &t.intro_subject
        }
        MessageKind::Introduction => {
            out.push((
                fill(&t.intro_volunteer, &[("name", requester.submission.name())]),
                None,
            ));
            out.push((reach(requester), None));
            out.push((
                fill(
                    &t.intro_area,
                    &[("area", &crate::offers::area_of(requester))],
                ),
                None,
            ));
            out.extend(household_line(strings, lang, requester).map(|h| (h, None)));
            out.push((languages_line(strings, requester), None));
            if let crate::store::Submission::Signup(s) = &requester.submission
                && let Some(notes) = &s.notes
            {
                out.push((fill(&t.intro_notes, &[("notes", notes)]), None));
            }
            out.push((
                if context.network_pays {
                    t.volunteer_next_network.clone()
                } else {
                    t.volunteer_next.clone()
                },
                None,
            ));
            out.push((t.cant_connect.clone(), page("")));
            &t.intro_subject
        }
        MessageKind::CheckIn => {
            out.push((t.checkin_text.clone(), page("#checkin")));
            &t.checkin_subject
        }
        _ => {
            out.push((t.thanks_text.clone(), None));
            &t.thanks_subject
        }
    };
    (subject.clone(), out)
}

/// The email itself: `paragraphs` as plain text and HTML, with our
/// headers (the message's id; one-click unsubscribe when it carries a link).
fn build_email(
    message: &Message,
    subject: &str,
    paragraphs: &[Paragraph],
    lang: &str,
    letters: &Letters,
) -> Result<lettre::Message, RenderError> {
    let site = &letters.site;
    let config = &site.config;
    let text: String = paragraphs
        .iter()
        .map(|(p, url)| match url {
            Some(url) => p.replace("{url}", url),
            None => p.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n\n")
        + "\n";
    let esc = |t: &str| html_escape::encode_text(t).into_owned();
    let body: String = paragraphs
        .iter()
        .map(|(p, url)| match url {
            Some(url) => {
                let link = format!(
                    "<a href=\"{href}\">{shown}</a>",
                    href = html_escape::encode_double_quoted_attribute(url),
                    shown = esc(url)
                );
                format!("<p>{}</p>", esc(p).replace("{url}", &link))
            }
            None => format!("<p>{}</p>", esc(p)),
        })
        .collect();
    let dir = match site.strings.get(lang).map(|s| s.direction) {
        Some(mutualaid_site::strings::Direction::Rtl) => "rtl",
        _ => "ltr",
    };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body style=\"font-family:sans-serif;line-height:1.5\">{body}</body></html>",
        title = esc(subject),
    );

    let build = |why: String| RenderError::Build {
        id: message.id.clone(),
        why,
    };
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|_| build("the address does not parse".into()))?;
    let reply_to: Mailbox = config
        .contact_email
        .parse()
        .map_err(|_| build("contact_email does not parse".into()))?;
    let host = url_host(&config.base_url);
    let mut builder = lettre::Message::builder()
        .from(letters.from.clone())
        .reply_to(reply_to)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{}@{host}>", message.id)))
        .date(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(message.created_at.max(0) as u64),
        );
    builder = builder
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(MESSAGE_ID_HEADER),
            message.id.clone(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(RECORD_HEADER),
            message.person_id.clone(),
        ));
    if let Some(token) = &message.link {
        // RFC 8058: a mail app's Unsubscribe is one POST to our "stop
        // emails", which stops mail to this address for this record only.
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{}>", stop_url(config, token)),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(text))
                .singlepart(SinglePart::html(html)),
        )
        .map_err(|e| build(e.to_string()))
}

/// The address of the own page a private link's `token` opens.
pub fn own_page_url(config: &mutualaid_site::config::Config, token: &str) -> String {
    format!(
        "{}{}/me?t={token}",
        config.base_url.trim_end_matches('/'),
        config.api_base.trim_end_matches('/')
    )
}

/// The address of the "this wasn't me" page a private link's `token` opens.
pub fn not_me_url(config: &mutualaid_site::config::Config, token: &str) -> String {
    format!(
        "{}{}/me/not-me?t={token}",
        config.base_url.trim_end_matches('/'),
        config.api_base.trim_end_matches('/')
    )
}

/// The address of the "stop emails" a private link's `token` opens (the
/// `List-Unsubscribe` of every message that carries one).
pub fn stop_url(config: &mutualaid_site::config::Config, token: &str) -> String {
    format!(
        "{}{}/me/stop?t={token}",
        config.base_url.trim_end_matches('/'),
        config.api_base.trim_end_matches('/')
    )
}

/// The host of a URL like `https://host/path` (`localhost` if none).
fn url_host(url: &str) -> &str {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost")
}

impl MailError {
    /// Whether the service refused for good (a 5xx): trying again would
    /// be refused again.
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Refused(_))
    }

    /// What kind of failure, without the service's words (which may name
    /// the address).
    pub fn kind(&self) -> &'static str {
        match self {
            MailError::Outbox { .. } => "outbox",
            MailError::Smtp(_) => "smtp",
            MailError::Refused(_) => "refused",
            MailError::Ses(_) => "ses",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), 30);
        assert_eq!(backoff(1), 60);
        assert_eq!(backoff(20), LONGEST_BACKOFF);
    }

    #[test]
    fn the_host_of_a_site_address() {
        assert_eq!(
            url_host("https://mutualaid.example.org"),
            "mutualaid.example.org"
        );
        assert_eq!(url_host("http://127.0.0.1:8000/x"), "127.0.0.1");
    }
}
