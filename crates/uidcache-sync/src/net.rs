//! The byte stream under the IMAP connection: TCP, optionally TLS (rustls), with counters.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::error::{Error, Result};

/// How long connecting and the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection's bytes: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }

    /// `None` blocks; `Some(d)` makes a read give up after `d` with `WouldBlock`/`TimedOut`.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    /// Upgrades a plain stream to TLS (after STARTTLS); a TLS stream stays as it is.
    pub(crate) fn into_tls(self, config: &Arc<ClientConfig>, host: &str) -> Result<Stream> {
        match self {
            Stream::Plain(tcp) => handshake(tcp, config, host),
            tls => Ok(tls),
        }
    }

    pub(crate) fn shutdown(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The rustls configuration: the CAs of `ca_file` (PEM) when given, else the system's.
pub(crate) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Error::Tls(format!("reading --ca-file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Error::Tls(format!(
                    "--ca-file {}: no PEM certificate in it",
                    path.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    Error::Tls(format!(
                        "--ca-file {}: unusable certificate: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(Error::Tls(format!(
                    "no system CA certificates found ({} errors); install ca-certificates or \
                     pass --ca-file",
                    found.errors.len()
                )));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Opens a TCP connection to the first address of `host` that answers.
pub(crate) fn connect(host: &str, port: u16) -> Result<Stream> {
    let what = || format!("connecting to {host}:{port}");
    let addrs = (host, port).to_socket_addrs().map_err(|source| Error::Io {
        what: what(),
        source,
    })?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                return Ok(Stream::Plain(tcp));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io {
        what: what(),
        source: last.unwrap_or_else(|| std::io::Error::other("the host has no address")),
    })
}

fn handshake(mut tcp: TcpStream, config: &Arc<ClientConfig>, host: &str) -> Result<Stream> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| Error::Tls(format!("{host} is not a valid TLS server name: {e}")))?;
    let mut conn =
        ClientConnection::new(Arc::clone(config), name).map_err(|e| Error::Tls(e.to_string()))?;
    tcp.set_read_timeout(Some(CONNECT_TIMEOUT))
        .map_err(|e| Error::Tls(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| Error::Tls(format!("handshake with {host}: {e}")))?;
    }
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
}
