//! Settings both faces read, from the command line or the environment.

use pb_domain::BillingProfileId;

#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `PB_DETAILS_URL_TEMPLATE`: where "View details" of a billing profile points; `{id}` is replaced.
    pub details_url_template: Option<String>,
    /// `PB_PUBLIC_URL`: the externally visible base URL.
    pub public_url: Option<String>,
    /// Requests per minute per client before 429.
    pub rate_limit_per_minute: u32,
    /// Demo mode: the sign-in page lists the users and signs in with one click.
    pub dev_sign_in: bool,
    /// Who issues the invoices: the name, then the address lines (`PB_INVOICE_SELLER`).
    pub invoice_seller: Vec<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            details_url_template: None,
            public_url: None,
            rate_limit_per_minute: 1200,
            dev_sign_in: false,
            invoice_seller: vec!["Partner Program Billing".into()],
        }
    }
}

impl AppConfig {
    /// Rule E1: where "View details" of a billing profile points: the configured template with `{id}`
    /// replaced, else the profile's own details page.
    pub fn details_url(&self, profile: &BillingProfileId) -> String {
        match &self.details_url_template {
            Some(t) => t.replace("{id}", &profile.to_string()),
            None => {
                let base = self.public_url.as_deref().unwrap_or("").trim_end_matches('/');
                format!("{base}/billing/profiles/{profile}")
            }
        }
    }

    /// Cookies carry `Secure` when the service is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_e1_view_details_follows_the_template_or_the_profile_page() {
        let id = BillingProfileId::new();
        let own = AppConfig { public_url: Some("https://billing.example/".into()), ..Default::default() };
        assert_eq!(own.details_url(&id), format!("https://billing.example/billing/profiles/{id}"));
        let ext = AppConfig { details_url_template: Some("https://portal.example/p/{id}".into()), ..Default::default() };
        assert_eq!(ext.details_url(&id), format!("https://portal.example/p/{id}"));
    }
}
