//! AWS Signature Version 4 for `PUT /inventory/{sku}` on a deployed stage, where the route is IAM-authenticated.
//! Signing here keeps the suite self-contained: it creates its own skus without a pre-seeding step or an SDK
//! client. The signing itself is `aws-sigv4`'s, the signer the AWS SDKs use.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

pub(crate) struct Signer {
    region: String,
    credentials: Credentials,
}

impl Signer {
    /// Signs when `SAGA_SIGV4_REGION` and the usual AWS credential variables are set.
    pub(crate) fn from_env() -> Option<Signer> {
        let region = std::env::var("SAGA_SIGV4_REGION").ok()?;
        let credentials = Credentials::new(
            std::env::var("AWS_ACCESS_KEY_ID").ok()?,
            std::env::var("AWS_SECRET_ACCESS_KEY").ok()?,
            std::env::var("AWS_SESSION_TOKEN").ok(),
            None,
            "environment",
        );
        Some(Signer {
            region,
            credentials,
        })
    }

    /// The headers to add to the request: `x-amz-date`, `authorization` and, with temporary credentials,
    /// `x-amz-security-token`. `headers` are the request's own, signed along.
    pub(crate) fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        self.sign_at(SystemTime::now(), "execute-api", method, url, headers, body)
    }

    fn sign_at(
        &self,
        time: SystemTime,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .expect("complete signing parameters")
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap_or_else(|e| panic!("cannot sign {method} {url}: {e}"));
        let (instructions, _signature) = sign(request, &params)
            .unwrap_or_else(|e| panic!("cannot sign {method} {url}: {e}"))
            .into_parts();
        let (headers, _params) = instructions.into_parts();
        headers
            .into_iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// AWS's published `get-vanilla` example from the SigV4 test suite.
    #[test]
    fn matches_the_aws_test_vector() {
        let signer = Signer {
            region: "us-east-1".into(),
            credentials: Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                None,
                None,
                "test",
            ),
        };
        // 2015-08-30T12:36:00Z
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let headers = signer.sign_at(
            time,
            "service",
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
        );
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            header("authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
        assert_eq!(header("x-amz-security-token"), None);
    }
}
