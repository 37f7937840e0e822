//! An `aws-sdk-sfn` client for local mode, behind the `client` feature: only tests use it, and without the
//! feature the server links no AWS SDK.
//!
//! `aws-sdk-sfn` sends StartSyncExecution to `sync-<host>`: the operation's model carries a
//! host prefix, and the SDK applies it even to a custom `endpoint_url`, so
//! `http://127.0.0.1:3000` becomes `http://sync-127.0.0.1:3000`, which does not resolve. The
//! Rust SDK has no switch for that (boto3 has `inject_host_prefix=False`, the AWS CLI
//! `AWS_DISABLE_HOST_PREFIX_INJECTION=true`), so [`StripSyncHostPrefix`] takes the prefix off
//! again just before the request is sent. The request has been signed for the prefixed host by
//! then; local mode does not check signatures, so that does not matter.

use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sfn::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_smithy_runtime_api::box_error::BoxError;

/// Removes the `sync-` host prefix that the SDK puts in front of StartSyncExecution's host.
/// Add it to any `aws-sdk-sfn` client that talks to local mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct StripSyncHostPrefix;

impl Intercept for StripSyncHostPrefix {
    fn name(&self) -> &'static str {
        "StripSyncHostPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if let Some(uri) = strip_sync_prefix(request.uri()) {
            request.set_uri(uri.as_str())?;
        }
        Ok(())
    }
}

/// `scheme://sync-host...` → `scheme://host...`; `None` when there is no prefix to strip.
fn strip_sync_prefix(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host = rest.strip_prefix("sync-")?;
    Some(format!("{scheme}://{host}"))
}

/// A client for the local Step Functions API at `endpoint` (e.g. `http://127.0.0.1:3000`):
/// region `us-east-1`, static dummy credentials (local mode does not check them) and
/// [`StripSyncHostPrefix`]. Needs no AWS configuration on the machine.
pub fn local_client(endpoint: &str) -> aws_sdk_sfn::Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "sfn-api"))
        .endpoint_url(endpoint)
        .interceptor(StripSyncHostPrefix)
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

#[cfg(test)]
mod tests {
    use super::strip_sync_prefix;

    #[test]
    fn strips_only_the_sync_prefix() {
        assert_eq!(
            strip_sync_prefix("http://sync-127.0.0.1:3000/").as_deref(),
            Some("http://127.0.0.1:3000/")
        );
        assert_eq!(strip_sync_prefix("http://127.0.0.1:3000/"), None);
        assert_eq!(strip_sync_prefix("sync-host"), None);
    }
}
