//! Guest stdout/stderr: kept in memory for tests (shown when one fails) and
//! optionally echoed to the terminal, as `spin up` does.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// How much recent output each stream keeps.
const KEEP_BYTES: usize = 4 << 20;

/// Which terminal stream to echo to.
#[derive(Debug, Clone, Copy)]
pub enum Echo {
    /// Do not echo.
    None,
    /// The host's stdout.
    Stdout,
    /// The host's stderr.
    Stderr,
}

/// One component's stdout or stderr, shared by all its instances.
#[derive(Clone)]
pub struct GuestOutput {
    buffer: Arc<Mutex<Vec<u8>>>,
    echo: Echo,
}

impl GuestOutput {
    /// A new, empty stream.
    pub fn new(echo: Echo) -> Self {
        Self {
            buffer: Arc::default(),
            echo,
        }
    }

    /// Everything written so far (the most recent 4 MiB).
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Appends host-side text (such as an error about the guest).
    pub fn write(&self, bytes: &[u8]) {
        let mut buf = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        buf.extend_from_slice(bytes);
        if buf.len() > KEEP_BYTES {
            let cut = buf.len() - KEEP_BYTES;
            buf.drain(..cut);
        }
        drop(buf);
        // Echo failures (a closed terminal) must never fail the guest.
        let _ = match self.echo {
            Echo::None => Ok(()),
            Echo::Stdout => std::io::stdout().write_all(bytes),
            Echo::Stderr => std::io::stderr().write_all(bytes),
        };
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
