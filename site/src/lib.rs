//! The static site generator: `content/` (markdown pages, TOML texts and
//! settings) to `public/` (plain HTML, one inlined stylesheet, no scripts).
//!
//! The pipeline reads in the method names, as in Zola:
//! [`Site::load`] (read `config.toml`, `i18n/*.toml`, `pages/**/*.md`;
//! parse front matter; render markdown; check twins, links and texts) →
//! [`Site::render`] (lay each page into the template) → [`Site::build`]
//! (write the files).
//!
//! - [`content`]: a page file, its front matter, its URL and twin key.
//! - [`markdown`]: markdown to HTML, a pure function of text and context.
//! - [`form_html`]: the sign-up and donation forms, rendered from the
//!   contract in `mutualaid-forms` and the language's texts.
//! - [`strings`]: the interface texts per language and their completeness check.
//! - [`diagnostic`]: problems with file, line and a hint; what `check` prints.
//!
//! Architecture invariant: the generator never talks to AWS or any network;
//! it reads the content folder and writes the output folder, nothing else.

pub mod config;
pub mod content;
pub mod diagnostic;
pub mod form_html;
pub mod markdown;
mod site;
pub mod strings;

pub use config::Config;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use form_html::FormValues;
pub use site::{BuildReport, FormState, Notice, SWITCH_LANGUAGE_FIELD, Site, SiteError};
