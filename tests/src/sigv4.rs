//! AWS Signature Version 4 for `PUT /inventory/{sku}` on a deployed stage, where the route is IAM-authenticated.
//! Signing here keeps the suite self-contained: it creates its own skus without a pre-seeding step or an SDK.

use sha2::{Digest, Sha256};

pub(crate) struct Signer {
    region: String,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner_hash = Sha256::new()
        .chain_update(&inner)
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(&outer)
        .chain_update(inner_hash)
        .finalize()
        .to_vec()
}

/// Splits `scheme://host[:port]/path?query` into host, path and query.
fn split_url(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path_query) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    (host.to_string(), path.to_string(), query.to_string())
}

impl Signer {
    /// Signs when `SAGA_SIGV4_REGION` and the usual AWS credential variables are set.
    pub(crate) fn from_env() -> Option<Signer> {
        let region = std::env::var("SAGA_SIGV4_REGION").ok()?;
        Some(Signer {
            region,
            access_key: std::env::var("AWS_ACCESS_KEY_ID").ok()?,
            secret_key: std::env::var("AWS_SECRET_ACCESS_KEY").ok()?,
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        })
    }

    pub(crate) fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        self.sign_at(&stamp, "execute-api", method, url, headers, body)
    }

    fn sign_at(
        &self,
        stamp: &str,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let (host, path, query) = split_url(url);
        let date = &stamp[..8];
        let mut signed: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        signed.push(("host".into(), host));
        signed.push(("x-amz-date".into(), stamp.to_string()));
        if let Some(token) = &self.session_token {
            signed.push(("x-amz-security-token".into(), token.clone()));
        }
        signed.sort();
        let canonical_headers: String = signed.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed_names = signed
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        params.sort_unstable();
        // Every service but S3 signs the path as sent, percent-encoded once more.
        let canonical_path = path.replace('%', "%25");
        let canonical = format!(
            "{method}\n{canonical_path}\n{}\n{canonical_headers}\n{signed_names}\n{}",
            params.join("&"),
            sha256_hex(body)
        );
        let scope = format!("{date}/{}/{service}/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let mut key = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        for part in [self.region.as_str(), service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        let mut out = vec![
            ("x-amz-date".to_string(), stamp.to_string()),
            (
                "authorization".to_string(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
                    self.access_key
                ),
            ),
        ];
        if let Some(token) = &self.session_token {
            out.push(("x-amz-security-token".into(), token.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published `get-vanilla` example from the SigV4 test suite.
    #[test]
    fn matches_the_aws_test_vector() {
        let signer = Signer {
            region: "us-east-1".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let headers = signer.sign_at(
            "20150830T123600Z",
            "service",
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
        );
        assert_eq!(
            headers[1].1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }
}
