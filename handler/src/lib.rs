//! The form handler: a submission from an HTML form or JSON is validated with
//! the form contract, stored, and answered — the same code under AWS Lambda
//! and inside `mutualaid serve`.
//!
//! Where a submission goes: [`http`] (decode, rate-limit, answer) →
//! `mutualaid_forms` (validate, normalize) → [`domain::accept`] (created,
//! updated or unchanged) → the [`store::Store`] port → SQLite
//! ([`store::sqlite`]) or DynamoDB (`store::dynamo`, `aws` feature).
//! [`export`] writes the records as CSV. [`digest`] builds the organizers'
//! daily email and sends it through a [`mail::Mailer`] (outbox, SMTP, SES).
//! [`cases`] is what organizers do with the requests the digest lists;
//! [`offers`] carries a confirmed pairing to the people: the offer to the
//! volunteer, the introduction, the check-in.
//! [`erase`] deletes a person's data when they ask. [`outbox`] sends the
//! messages to people (receipts) that the store's outbox holds.
//!
//! Architecture invariants: only [`http`] knows HTTP; the domain and the
//! store know nothing of it. The AWS SDKs compile only with the `aws`
//! feature. No personal data goes to logs or error messages: logs carry the
//! request id, the form, the status and the outcome.

pub mod cases;
pub mod clock;
pub mod contacts;
pub mod details;
pub mod digest;
pub mod discord;
pub mod domain;
#[cfg(feature = "aws")]
pub mod edge;
pub mod erase;
pub mod export;
pub mod http;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod links;
pub mod mail;
pub mod offers;
pub mod outbox;
pub mod store;
