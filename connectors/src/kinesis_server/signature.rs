//! SigV4 checks of the requests, when the endpoint is given `credentials`: the signature in the
//! `Authorization` header is computed again from the request (AWS's canonical request, string to
//! sign and derived key, HMAC-SHA256 from the `hmac` and `sha2` crates) with the secret of its
//! access key, and compared in constant time. Without `credentials`, any signature passes, as
//! with kinesalite.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::errors::ApiError;

/// An access key the endpoint accepts, with its secret.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The access key id (`AKIA...`, or anything).
    pub access_key_id: String,
    /// Its secret access key.
    pub secret_access_key: String,
}

/// What a signature is checked against.
#[derive(Debug)]
pub(crate) struct Signed<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    /// The headers, names in lower case.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

impl Signed<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn incomplete(message: String) -> ApiError {
    ApiError { kind: "IncompleteSignatureException", message, status: 400 }
}

/// Checks the request's SigV4 signature against `credentials`.
pub(crate) fn verify(request: &Signed<'_>, credentials: &[Credentials]) -> Result<(), ApiError> {
    let authorization = request.header("authorization").unwrap_or_default();
    let Some(params) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(format!(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={authorization}"
        )));
    };
    let field = |name: &str| params.split(',').map(str::trim).find_map(|p| p.strip_prefix(name)?.strip_prefix('='));
    let (Some(credential), Some(signed_headers), Some(signature)) = (field("Credential"), field("SignedHeaders"), field("Signature")) else {
        return Err(incomplete(format!(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={authorization}"
        )));
    };
    let Some(date_time) = request.header("x-amz-date") else {
        return Err(incomplete(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={authorization}"
        )));
    };
    let mut scope = credential.splitn(2, '/');
    let (Some(key_id), Some(scope)) = (scope.next(), scope.next()) else { return Err(incomplete(format!("Invalid credential {credential}."))) };
    let Some(secret) = credentials.iter().find(|c| c.access_key_id == key_id).map(|c| &c.secret_access_key) else {
        return Err(ApiError {
            kind: "UnrecognizedClientException",
            message: "The security token included in the request is invalid.".into(),
            status: 400,
        });
    };
    let parts: Vec<&str> = scope.split('/').collect();
    let [date, region, service, "aws4_request"] = parts.as_slice() else { return Err(incomplete(format!("Invalid credential scope {scope}."))) };
    let expected = signature_of(request, signed_headers, date_time, date, region, service, secret);
    if expected.len() == signature.len() && ring_like_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError {
            kind: "InvalidSignatureException",
            message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            status: 400,
        })
    }
}

/// Compares without stopping at the first difference.
fn ring_like_eq(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The hex signature of `request` with these signing parameters.
fn signature_of(request: &Signed<'_>, signed_headers: &str, date_time: &str, date: &str, region: &str, service: &str, secret: &str) -> String {
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let value = request.header(name).unwrap_or_default();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let mut query: Vec<&str> = request.query.split('&').filter(|p| !p.is_empty()).collect();
    query.sort_unstable();
    let payload = request.header("x-amz-content-sha256").map_or_else(|| hex(&Sha256::digest(request.body)), str::to_owned);
    let path = if request.path.is_empty() { "/" } else { request.path };
    let canonical = format!("{}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload}", request.method, query.join("&"));
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!("AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let key = [date, region, service, "aws4_request"].iter().fold(format!("AWS4{secret}").into_bytes(), |key, part| hmac(&key, part.as_bytes()));
    hex(&hmac(&key, to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's worked example (IAM `ListUsers`, in the SigV4 documentation).
    #[test]
    fn the_signature_of_awss_worked_example() {
        let headers =
            [("content-type", "application/x-www-form-urlencoded; charset=utf-8"), ("host", "iam.amazonaws.com"), ("x-amz-date", "20150830T123600Z")];
        let request = Signed { method: "GET", path: "/", query: "Action=ListUsers&Version=2010-05-08", headers: &headers, body: b"" };
        let signature = signature_of(
            &request,
            "content-type;host;x-amz-date",
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "iam",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        );
        assert_eq!(signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    }

    #[test]
    fn unknown_keys_and_wrong_signatures_are_told_apart() {
        let credentials = [Credentials { access_key_id: "AKID".into(), secret_access_key: "secret".into() }];
        let check = |authorization: &'static str| {
            let headers = [("authorization", authorization), ("x-amz-date", "20260101T000000Z"), ("host", "localhost")];
            verify(&Signed { method: "POST", path: "/", query: "", headers: &headers, body: b"{}" }, &credentials).map_err(|e| e.kind)
        };
        assert_eq!(
            check("AWS4-HMAC-SHA256 Credential=OTHER/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
            Err("UnrecognizedClientException")
        );
        assert_eq!(
            check("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
            Err("InvalidSignatureException")
        );
        assert_eq!(check("Bearer x"), Err("IncompleteSignatureException"));
    }
}
