//! The DynamoDB client's configuration and HTTPS client, built for a short Lambda start-up.
//!
//! A Lambda's start-up is waited on by the request that caused it, so what the functions do before their first
//! event matters. Two things dominated it, and this module avoids both:
//!
//! - `aws_config::load_defaults` walks the region and credential provider chains (environment, profile files,
//!   SSO, web identity, ECS, instance metadata) and links STS and SSO clients for them. On Lambda the region and
//!   the execution role's credentials are always in the environment, so [`config_from_vars`] reads exactly
//!   those variables.
//! - The SDK's default HTTPS client loads the system's root certificates when the client is built: on Debian
//!   the bundle and then every file of `/etc/ssl/certs`, several hundred certificates parsed, most of an
//!   11 ms start. [`https_client`] instead trusts the five Amazon Trust Services roots, compiled in and
//!   already PEM-encoded. Every DynamoDB endpoint certificate chains to them, and they are the set Amazon
//!   Trust Services recommends for a custom trust store. (A partition whose endpoints use another CA would
//!   need its roots added here.) An endpoint override for an emulator is plain HTTP and needs no roots.
//!
//! Retries and timeouts are the SDK's defaults for [`BehaviorVersion::latest`] (standard retry mode with
//! 3 attempts, a 3.1 s connect timeout), the same as the client built from `aws_config` had.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_dynamodb::Config;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};

/// An environment variable that [`config_from_vars`] or `Tables::from_vars` needs is unset or empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set (or not unicode)")]
pub struct MissingEnvVar(pub &'static str);

/// The five Amazon Trust Services roots (Amazon Root CA 1 to 4, Starfield Services Root Certificate
/// Authority - G2) in PEM, as `build.rs` took them from the `webpki-root-certs` crate.
pub const AMAZON_TRUST_ROOTS_PEM: &str =
    include_str!(concat!(env!("OUT_DIR"), "/amazon-trust-roots.pem"));

/// The HTTPS client every store uses: rustls on *ring*, trusting [`AMAZON_TRUST_ROOTS_PEM`] only.
pub fn https_client() -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_ROOTS_PEM.as_bytes());
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        // Building only fails on invalid extra server names, and none are given.
        .expect("a TLS context without extra server names builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// A client configuration with [`https_client`] and the latest SDK behaviour, for callers to finish (region,
/// credentials, endpoint, retries). The SDK crate is built without a default HTTP client, so a configuration
/// that does not start here has none.
pub fn config_builder() -> aws_sdk_dynamodb::config::Builder {
    Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
}

/// The configuration of a Lambda, from the variables its runtime sets, looked up through `var`:
///
/// - region: `AWS_REGION`, else `AWS_DEFAULT_REGION`;
/// - credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for a role, `AWS_SESSION_TOKEN`. They are
///   read once: the runtime sets them for the life of the execution environment and never changes them;
/// - endpoint override (emulators), as the SDK's own configuration honours it: `AWS_ENDPOINT_URL_DYNAMODB`,
///   else `AWS_ENDPOINT_URL`, both ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`.
pub fn config_from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, MissingEnvVar> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let mut builder = config_builder()
        .region(region(var)?)
        .credentials_provider(credentials(var)?);
    builder.set_endpoint_url(endpoint_override(var));
    Ok(builder.build())
}

fn region(var: impl Fn(&str) -> Option<String>) -> Result<Region, MissingEnvVar> {
    var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .map(Region::new)
        .ok_or(MissingEnvVar("AWS_REGION"))
}

fn credentials(var: impl Fn(&str) -> Option<String>) -> Result<Credentials, MissingEnvVar> {
    let need = |name: &'static str| var(name).ok_or(MissingEnvVar(name));
    Ok(Credentials::new(
        need("AWS_ACCESS_KEY_ID")?,
        need("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "environment",
    ))
}

fn endpoint_override(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    if var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const LAMBDA: [(&str, &str); 4] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    #[test]
    fn the_trust_store_holds_the_five_roots() {
        assert_eq!(
            AMAZON_TRUST_ROOTS_PEM
                .matches("-----BEGIN CERTIFICATE-----")
                .count(),
            5
        );
    }

    #[test]
    fn a_client_builds_with_the_bundled_roots() {
        // Building a client makes the SDK build its connector, which parses every trusted root and panics on
        // one it cannot use.
        let client = aws_sdk_dynamodb::Client::from_conf(config_from_vars(vars(&LAMBDA)).unwrap());
        assert_eq!(
            client.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
    }

    #[test]
    fn a_lambda_environment_gives_region_credentials_and_no_endpoint() {
        let config = config_from_vars(vars(&LAMBDA)).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.http_client().is_some());
        let credentials = credentials(vars(&LAMBDA)).unwrap();
        assert_eq!(credentials.access_key_id(), "AKID");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("token"));
        assert_eq!(credentials.expiry(), None);
        assert_eq!(endpoint_override(vars(&LAMBDA)), None);
    }

    #[test]
    fn each_required_variable_is_named_when_missing() {
        for (missing, _) in &LAMBDA[..3] {
            let rest: Vec<_> = LAMBDA
                .iter()
                .copied()
                .filter(|(k, _)| k != missing)
                .collect();
            assert_eq!(
                config_from_vars(vars(&rest)).unwrap_err(),
                MissingEnvVar(missing),
            );
        }
        let empty_key: Vec<_> = LAMBDA
            .iter()
            .map(|&(k, v)| (k, if k == "AWS_ACCESS_KEY_ID" { "" } else { v }))
            .collect();
        assert_eq!(
            config_from_vars(vars(&empty_key)).unwrap_err(),
            MissingEnvVar("AWS_ACCESS_KEY_ID")
        );
    }

    #[test]
    fn the_default_region_and_no_session_token_are_accepted() {
        let without = vars(&[
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]);
        assert_eq!(region(&without).unwrap().as_ref(), "us-west-2");
        assert_eq!(credentials(&without).unwrap().session_token(), None);
        assert!(config_from_vars(without).is_ok());
    }

    #[test]
    fn endpoint_overrides_follow_the_sdk_precedence() {
        let with = |pairs: &[(&str, &str)]| endpoint_override(vars(pairs));
        let general = ("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
        let dynamodb = ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2");
        assert_eq!(with(&[general]).as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(
            with(&[general, dynamodb]).as_deref(),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(
            with(&[dynamodb, ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE")]),
            None
        );
    }
}
