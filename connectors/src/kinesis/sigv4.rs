//! SigV4, AWS's request signatures, computed by the AWS SDK's own signer (`aws-sigv4`): the
//! `kinesis` source signs its calls with it.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// An access key and its secret (and a session token for temporary credentials).
#[derive(Clone)]
pub struct Keys {
    identity: Identity,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

impl Keys {
    /// Keys from their parts.
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        let credentials = Credentials::new(access_key_id, secret_access_key, session_token.map(str::to_owned), None, "runnel");
        Self { identity: credentials.into() }
    }

    /// The headers (`authorization`, `x-amz-date`, and `x-amz-security-token` with a session
    /// token) that sign a `POST` of `body` to `url` with `headers`, for `service` in `region`.
    ///
    /// # Errors
    /// [`SignError`] when the URL or a header cannot be signed.
    pub fn sign(
        &self,
        region: &str,
        service: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, SignError> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(region)
            .name(service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignError(e.to_string()))?
            .into();
        let request = SignableRequest::new("POST", url, headers.iter().copied(), SignableBody::Bytes(body)).map_err(|e| SignError(e.to_string()))?;
        let (instructions, _) = sign(request, &params).map_err(|e| SignError(e.to_string()))?.into_parts();
        let (headers, _) = instructions.into_parts();
        Ok(headers.into_iter().map(|header| (header.name().to_owned(), header.value().to_owned())).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_signature_covers_the_body_and_the_date() {
        let keys = Keys::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let headers = [("host", "kinesis.us-east-1.amazonaws.com"), ("x-amz-target", "Kinesis_20131202.ListStreams")];
        let url = "https://kinesis.us-east-1.amazonaws.com/";
        let signed = keys.sign("us-east-1", "kinesis", url, &headers, b"{}", at).unwrap();
        let find = |name: &str| signed.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(find("x-amz-date"), "20150830T123600Z");
        let authorization = find("authorization");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature="),
            "{authorization}"
        );
        let other_body = keys.sign("us-east-1", "kinesis", url, &headers, b"{ }", at).unwrap();
        assert_ne!(other_body, signed, "the body is signed");
    }
}
