//! The form contract: what the sign-up and donation-interest forms ask, and
//! how an answer is checked. Both the site generator (which renders the HTML
//! form from [`spec`]) and the handler (which validates with [`input`] and
//! [`validate`]) use this crate, so nothing is copied by hand between them.
//!
//! - [`spec`]: the fields in order ([`spec::Field`]): wire name, kind,
//!   `required`, `maxlength`, `pattern`, `autocomplete`, options, and every
//!   error code a field can get. Labels, hints and messages are *content*
//!   (`content/i18n/*.toml`), keyed by these names and codes.
//! - [`input`]: [`SignupInput`] and [`DonateInput`], the wire structs with
//!   their `validator` derives, decoded leniently from a form or JSON.
//! - [`validate`]: `validate_and_normalize` gives a clean [`Signup`] /
//!   [`Donation`] or [`FieldErrors`].
//! - [`zips`]: the San Diego County ZIP codes, with centroids.
//!
//! Architecture invariant: this crate knows nothing of HTTP, HTML pages,
//! storage or AWS. It is plain data and functions.

pub mod input;
pub mod normalize;
pub mod spec;
pub mod validate;
pub mod zips;

pub use input::{DonateInput, FormInput, PageFields, SignupInput};
pub use spec::{Field, FormId, Kind};
pub use validate::{
    ContactMethod, Donation, FieldError, FieldErrors, Frequency, Lang, Role, Signup,
};

#[cfg(test)]
mod tests;
