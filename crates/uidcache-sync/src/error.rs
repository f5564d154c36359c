//! What can go wrong while syncing, each naming what and where.

/// Sync errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be used.
    #[error("bad URL {0}")]
    Url(String),
    /// Connecting, reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS setup or handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server cannot be used safely or at all (no STARTTLS, login refused, ...).
    #[error("server {0}")]
    Server(String),
    /// Logging in cannot start: no usable mechanism, no token, a failing token command.
    #[error("login: {0}")]
    Login(String),
    /// The server refused the login (wrong password, rejected or expired token).
    #[error("server refused the login ({mechanism}): {response}{}", sasl.as_ref().map_or(String::new(), |s| format!("; its SASL error: {s}")))]
    Rejected {
        /// The mechanism used (`PLAIN`, `OAUTHBEARER`, ...).
        mechanism: String,
        /// The server's tagged NO or BAD response (printable, shortened).
        response: String,
        /// The error the server sent in a continuation before its NO, decoded (OAuth
        /// mechanisms: `status 401, scope ...`).
        sasl: Option<String>,
    },
    /// The server broke the protocol; `message` is the response (shortened).
    #[error("protocol violation by the server: {what}: {message}")]
    Protocol {
        /// What was wrong.
        what: String,
        /// The offending response, printable and at most 200 bytes.
        message: String,
    },
    /// The connection ended (EOF or `* BYE`).
    #[error("connection closed by the server{0}")]
    Closed(String),
    /// A command did not complete with OK.
    #[error("command `{command}` failed: {response}")]
    Command {
        /// The command (secrets removed).
        command: String,
        /// The tagged NO/BAD response.
        response: String,
    },
    /// The server's state contradicts what the cache knows (e.g. a HIGHESTMODSEQ below the
    /// cache's, which RFC 7162 does not allow for one UIDVALIDITY).
    #[error("the server contradicts the cache: {0}")]
    Contradiction(String),
    /// Applying the server's responses to the cache failed.
    #[error("applying the server's responses: {0}")]
    Apply(#[from] uidcache_imap::LineError),
    /// The cache failed.
    #[error(transparent)]
    Engine(#[from] uidcache_engine::Error),
    /// The sync made no progress where it should have (a server that keeps changing the
    /// mailbox faster than it can be read, or one that answers inconsistently).
    #[error("no progress: {0}")]
    NoProgress(String),
    /// Writing the transcript failed.
    #[error("transcript {path}: {source}")]
    Transcript {
        /// The transcript file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Stopped by the user (Ctrl-C) before the sync finished; everything received so far is
    /// committed.
    #[error("interrupted")]
    Interrupted,
    /// The account file is damaged or of another version (format-spec/ACCOUNT.md).
    #[error("account file {path}, byte {offset}: {what}")]
    AccountFile {
        /// The file.
        path: String,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

impl Error {
    /// Whether reconnecting may help (`--watch` retries these with backoff).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Io { .. } | Error::Closed(_) | Error::Tls(_))
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A response shortened for error messages: printable ASCII, at most 200 bytes.
pub(crate) fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(200)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}
