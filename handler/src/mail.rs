//! The mailer port and its adapters. A message is built once with `lettre`
//! (see `digest::render`) and handed to one of:
//!
//! - [`Outbox`]: writes `<folder>/<time, to the microsecond>-<id>.eml` (the
//!   local default; names sort in the order the messages were written), or
//!   `<folder>/<id>.eml` for a message of the outbox to people (named by
//!   its own id, so a repeat replaces itself);
//! - `Smtp` (`smtp` feature): any SMTP server, via lettre's transport (URL
//!   like `smtps://user:password@smtp.example.org:465` or `smtp://localhost:25`);
//! - `Ses` (`aws` feature): SES v2 `SendEmail` with the raw MIME.
//!
//! `send` returns only when the service has accepted the message; the
//! digest's watermark moves after that, never before.

use std::future::Future;
use std::path::PathBuf;

use lettre::Message;
#[cfg(feature = "smtp")]
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Writing the outbox file failed.
    #[error("writing the outbox message {path}: {source}")]
    Outbox {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The SMTP server could not be reached, or refused for now (a 4xx).
    #[error("SMTP: {0}")]
    Smtp(String),
    /// The mail service refused for good (an SMTP 5xx): the same message
    /// to the same address would be refused again.
    #[error("refused for good: {0}")]
    Refused(String),
    /// SES refused (for example an unverified sender) or could not be reached.
    #[error("SES: {0}")]
    Ses(String),
}

/// Hands a message to a mail service.
pub trait Mailer: Send + Sync {
    /// Returns once the service accepted the message.
    fn send(&self, message: &Message) -> impl Future<Output = Result<(), MailError>> + Send;
}

/// Writes each message as an `.eml` file, for a group without a mail service
/// (and for looking at what would be sent).
#[derive(Debug, Clone)]
pub struct Outbox {
    /// The folder.
    pub dir: PathBuf,
}

impl Mailer for Outbox {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let bytes = message.formatted();
        let dir = self.dir.clone();
        // A message of the outbox is named by its id, so a repeat (sent
        // again after a crash before it was recorded) replaces itself.
        let own_id = message
            .headers()
            .get_raw(crate::outbox::MESSAGE_ID_HEADER)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(str::to_owned);
        let name = match own_id {
            Some(id) => format!("{id}.eml"),
            None => format!(
                "{}-{}.eml",
                jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.6fZ"),
                uuid::Uuid::new_v4().simple()
            ),
        };
        let path = dir.join(&name);
        let temp = dir.join(format!(".{name}.part"));
        let fail = |path: &PathBuf| {
            let path = path.clone();
            move |source| MailError::Outbox { path, source }
        };
        tokio::fs::create_dir_all(&dir).await.map_err(fail(&dir))?;
        // Write then rename, so a reader never sees half a message.
        tokio::fs::write(&temp, bytes).await.map_err(fail(&temp))?;
        tokio::fs::rename(&temp, &path).await.map_err(fail(&path))
    }
}

/// An SMTP server.
#[cfg(feature = "smtp")]
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

#[cfg(feature = "smtp")]
impl Smtp {
    /// From a URL: `smtp://host:port` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:password@host:465` (TLS).
    pub fn from_url(url: &str) -> Result<Smtp, MailError> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map(|builder| Smtp {
                transport: builder.build(),
            })
            .map_err(|e| MailError::Smtp(format!("the SMTP URL is not valid: {e}")))
    }
}

#[cfg(feature = "smtp")]
impl Mailer for Smtp {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        self.transport
            .send(message.clone())
            .await
            .map(drop)
            .map_err(|e| {
                if e.is_permanent() {
                    MailError::Refused(e.to_string())
                } else {
                    MailError::Smtp(e.to_string())
                }
            })
    }
}

#[cfg(feature = "aws")]
pub use ses::{ACTIONS as SES_ACTIONS, Ses};

#[cfg(feature = "aws")]
mod ses {
    use aws_sdk_sesv2::Client;
    use aws_sdk_sesv2::error::DisplayErrorContext;
    use aws_sdk_sesv2::primitives::Blob;
    use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
    use lettre::Message;

    use super::{MailError, Mailer};

    /// The SES v2 actions this adapter calls (the `digest` function's policy).
    pub const ACTIONS: &[&str] = &["ses:SendEmail", "ses:SendRawEmail"];

    /// Amazon SES (v2), sending the MIME as built.
    #[derive(Clone)]
    pub struct Ses {
        client: Client,
        configuration_set: Option<String>,
    }

    impl Ses {
        /// A mailer on an SES client.
        pub fn new(client: Client) -> Self {
            Ses {
                client,
                configuration_set: None,
            }
        }

        /// Sending through `name`, a configuration set whose bounce and
        /// complaint events come back (`crate::outbox::bounced`).
        pub fn with_configuration_set(self, name: Option<String>) -> Self {
            Ses {
                configuration_set: name,
                ..self
            }
        }
    }

    impl Mailer for Ses {
        async fn send(&self, message: &Message) -> Result<(), MailError> {
            let envelope = message.envelope();
            let to: Vec<String> = envelope.to().iter().map(ToString::to_string).collect();
            let raw = RawMessage::builder()
                .data(Blob::new(message.formatted()))
                .build()
                .map_err(|e| MailError::Ses(e.to_string()))?;
            let mut request = self
                .client
                .send_email()
                .destination(Destination::builder().set_to_addresses(Some(to)).build())
                .content(EmailContent::builder().raw(raw).build());
            if let Some(from) = envelope.from() {
                request = request.from_email_address(from.to_string());
            }
            if let Some(set) = &self.configuration_set {
                request = request.configuration_set_name(set);
            }
            request
                .send()
                .await
                .map(drop)
                .map_err(|e| MailError::Ses(DisplayErrorContext(&e).to_string()))
        }
    }
}
