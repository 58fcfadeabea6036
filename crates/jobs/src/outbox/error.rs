//! What can go wrong in handing an email over, sorted by what to do about it.

/// Why a mailer could not be set up or an email not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The configuration is unusable; the service refuses to start.
    #[error("{0}")]
    Config(String),
    /// This email can never be sent as it is (a malformed address): retrying will not help.
    #[error("{0}")]
    Permanent(String),
    /// The server or the folder failed this time; the email is tried again later.
    #[error("{0}")]
    Transient(String),
}
