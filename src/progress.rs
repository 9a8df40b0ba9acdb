//! Progress reporting. Library code reports through [`Reporter`]; the CLI implements it with
//! progress bars on a terminal and stays quiet otherwise.

/// Receives progress from long operations. Every method has a silent default.
pub trait Reporter: Sync {
    /// A phase starts: `total` units (`bytes` says whether units are bytes).
    fn begin(&self, _label: &str, _total: u64, _bytes: bool) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
    /// The phase is over.
    fn end(&self) {}
    /// A one-line status (loss, rate…): the bar's message on a terminal, a periodic line on
    /// stderr otherwise.
    fn status(&self, _line: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Reporter for Silent {}
