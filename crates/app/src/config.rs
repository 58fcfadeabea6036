//! Settings both faces read, from the command line or the environment.

use pb_domain::BillingProfileId;

#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `PB_DETAILS_URL_TEMPLATE`: where "View details" of a billing profile points; `{id}` is replaced.
    pub details_url_template: Option<String>,
    /// `PB_PUBLIC_URL`: the externally visible base URL.
    pub public_url: Option<String>,
    /// Requests per minute per client address before 429.
    pub rate_limit_per_minute: u32,
    /// Requests per minute per signed-in principal (user or operator) before 429, whatever address
    /// they come from.
    pub rate_limit_per_principal_per_minute: u32,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client (`PB_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<crate::client::TrustedProxy>,
    /// Demo mode: the sign-in page lists the users and signs in with one click.
    pub dev_sign_in: bool,
    /// Who issues the invoices: the name, then the address lines (`PB_INVOICE_SELLER`).
    pub invoice_seller: Vec<String>,
    /// Whether the server listens on a loopback address only (cookies may then go without `Secure`
    /// over plain http).
    pub listen_loopback: bool,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            details_url_template: None,
            public_url: None,
            rate_limit_per_minute: 1200,
            rate_limit_per_principal_per_minute: 1200,
            trusted_proxies: Vec::new(),
            dev_sign_in: false,
            invoice_seller: vec!["Partner Program Billing".into()],
            listen_loopback: true,
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

    /// Cookies carry `Secure` (and the `__Host-` prefix) by default; only a service reached over plain
    /// http on a loopback address goes without, as a browser would not send them back there.
    pub fn secure_cookies(&self) -> bool {
        match self.public_url.as_deref() {
            Some(u) if u.starts_with("https://") => true,
            Some(u) => !is_loopback_url(u),
            None => !self.listen_loopback,
        }
    }

    /// Rule for forms: a browser's `Origin` must be this service's own: the public URL's origin, or
    /// the `Host` the request was sent to (a page of another site can be neither).
    pub fn same_origin(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/');
        let public = self.public_url.as_deref().and_then(origin_of).is_some_and(|o| o.eq_ignore_ascii_case(origin));
        let same_host = match (origin.split_once("://"), host) {
            (Some((_, authority)), Some(host)) => authority.eq_ignore_ascii_case(host.trim()),
            _ => false,
        };
        public || same_host
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), authority))
}

fn is_loopback_url(url: &str) -> bool {
    let Some(o) = origin_of(url) else { return false };
    let authority = o.split_once("://").map_or("", |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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

    #[test]
    fn hardening_cookies_are_secure_unless_plain_http_on_loopback() {
        let with = |public_url: Option<&str>, listen_loopback: bool| AppConfig {
            public_url: public_url.map(str::to_owned),
            listen_loopback,
            ..Default::default()
        };
        assert!(!with(None, true).secure_cookies());
        assert!(with(None, false).secure_cookies());
        assert!(with(Some("https://billing.example"), true).secure_cookies());
        assert!(with(Some("http://billing.example"), false).secure_cookies());
        assert!(!with(Some("http://127.0.0.1:8080"), true).secure_cookies());
        assert!(!with(Some("http://[::1]:8080/"), true).secure_cookies());
    }

    #[test]
    fn hardening_forms_accept_only_our_own_origin() {
        let public = AppConfig { public_url: Some("https://billing.example/app".into()), ..Default::default() };
        assert!(public.same_origin("https://billing.example", Some("internal:8080")));
        assert!(public.same_origin("http://localhost:8080", Some("localhost:8080")), "the host it was reached at");
        assert!(!public.same_origin("https://evil.example", Some("billing.example")));
        assert!(!public.same_origin("null", None));
        let local = AppConfig::default();
        assert!(local.same_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!local.same_origin("http://127.0.0.1:9999", Some("127.0.0.1:8080")));
        assert!(!local.same_origin("null", Some("127.0.0.1:8080")));
    }
}
