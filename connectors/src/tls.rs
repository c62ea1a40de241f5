//! TLS clients' settings: rustls with the Mozilla roots (webpki-roots) and the certificates of a
//! `ca_file` (a private certificate authority, or a server's own self-signed certificate). The
//! WebSocket client and the PostgreSQL connections share it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a TLS client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate authority file cannot be read.
    #[error("cannot load `ca_file` {path}: {error}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        error: String,
    },
    /// rustls refused the settings.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client configuration that trusts the Mozilla roots and the certificates of `ca_file`.
///
/// # Errors
/// [`TlsError::CaFile`] when the file cannot be read or holds no certificate.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let ca_error = |error: String| TlsError::CaFile { path: path.display().to_string(), error };
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))?;
        let mut added = 0;
        for cert in certs {
            roots.add(cert.map_err(|e| ca_error(e.to_string()))?).map_err(|e| ca_error(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_error("no certificate in the file".to_owned()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
