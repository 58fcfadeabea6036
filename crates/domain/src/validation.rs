//! Field-level validation problems, collected so that one response can name every bad field.

use serde::Serialize;

/// One problem with one input field: `field` is a dotted path (`sold_to.country`), `code` is a stable
/// snake_case identifier and `message` is for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.into(), message: message.into() }
    }
}

/// A non-empty-when-failed collection of [`FieldError`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Runs a parse, keeping its value or recording its error under `field`.
    pub fn check<T, E: std::fmt::Display + ErrorCode>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e.code(), e.to_string());
                None
            }
        }
    }

    /// Parses a field that must be present: its value, or `required` / the parse's error under `field`.
    pub fn required<T, E: std::fmt::Display + ErrorCode>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match raw {
            Some(v) => self.check(field, parse(v)),
            None => {
                self.push(field, "required", "is required");
                None
            }
        }
    }

    /// Merges errors of a nested value, prefixing their fields with `prefix.`.
    pub fn nested<T>(&mut self, prefix: &str, r: Result<T, FieldErrors>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(errs) => {
                for e in errs.0 {
                    self.0.push(FieldError { field: format!("{prefix}.{}", e.field), ..e });
                }
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no error was recorded.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, FieldErrors> {
        if !self.0.is_empty() {
            return Err(self);
        }
        value().ok_or(self)
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for FieldErrors {}

/// A stable machine-readable code for a parse error.
pub trait ErrorCode {
    fn code(&self) -> &'static str;
}
