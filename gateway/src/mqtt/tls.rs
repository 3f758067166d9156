//! TLS to the broker: a rustls client config (ring provider) trusting the CA file of
//! `[mqtt] tls_ca_file`, with an optional client certificate for brokers that require one.
//! Built once when the config is checked (`app::check_resources`: a bad PEM file is a config
//! error naming the file and the line of its key) and again when the MQTT task starts.

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

pub use crate::config::TlsFiles;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("{path}: no {what} in PEM format found")]
    Empty { path: String, what: &'static str },
    #[error("{path}: {reason}")]
    Rejected { path: String, reason: String },
}

impl TlsError {
    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            TlsError::Read { path, .. }
            | TlsError::Empty { path, .. }
            | TlsError::Rejected { path, .. } => path,
        }
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: show(path),
        cause: source,
    })?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Rejected {
            path: show(path),
            reason: format!("not a PEM certificate file: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: show(path),
            what: "CERTIFICATE",
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: show(path),
        cause: source,
    })?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| TlsError::Rejected {
            path: show(path),
            reason: format!("not a PEM key file: {e}"),
        })?
        .ok_or(TlsError::Empty {
            path: show(path),
            what: "PRIVATE KEY",
        })
}

/// The rustls client config for these files.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(&files.ca_file)? {
        roots.add(cert).map_err(|e| TlsError::Rejected {
            path: show(&files.ca_file),
            reason: format!("CA certificate refused: {e}"),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rejected {
            path: show(&files.ca_file),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots);
    let config = match &files.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| TlsError::Rejected {
                path: show(key),
                reason: format!("client certificate and key do not go together: {e}"),
            })?,
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("sungate-tls-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn bad_files_are_named() {
        let missing = TlsFiles::ca("/nonexistent/ca.pem");
        let e = client_config(&missing).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");

        let not_pem = write("notpem.pem", "hello\n");
        let e = client_config(&TlsFiles::ca(not_pem.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no CERTIFICATE"), "{e}");

        let garbage = write(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let e = client_config(&TlsFiles::ca(garbage.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CA certificate refused"), "{e}");
        let _ = std::fs::remove_file(not_pem);
        let _ = std::fs::remove_file(garbage);
    }
}
