//! What a plugin writes to stderr during one call, kept so a failure can
//! say why (a Rust panic message lands there).
//!
//! Why not wasmtime-wasi's `MemoryOutputPipe`: a stream the guest opens
//! lives in the store's resource table, and the WASI adapter keeps its
//! stdio handles for the instance's whole life. With instance reuse
//! (`instance_pool`), the stream a reused instance writes to must still be
//! this call's capture. So the capture is one shared buffer per instance
//! that each call starts by emptying. Like `MemoryOutputPipe`, a write past
//! the capacity fails the guest's write (bounded host memory).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Debug, Clone)]
pub struct StderrCapture {
    capacity: usize,
    buffer: Arc<Mutex<BytesMut>>,
}

impl StderrCapture {
    pub fn new(capacity: usize) -> Self {
        StderrCapture {
            capacity,
            buffer: Arc::new(Mutex::new(BytesMut::new())),
        }
    }

    /// What the current call wrote.
    pub fn contents(&self) -> Bytes {
        self.lock().clone().freeze()
    }

    /// Forgets what earlier calls wrote.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BytesMut> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.lock().len())
    }
}

impl OutputStream for StderrCapture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        let mut buffer = self.lock();
        if bytes.len() > self.capacity.saturating_sub(buffer.len()) {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "the plugin wrote more than {} bytes to stderr in one call",
                self.capacity
            )));
        }
        buffer.extend_from_slice(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        match self.room() {
            0 => Err(StreamError::Closed),
            room => Ok(room),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrCapture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut buffer = self.lock();
        let amount = buf.len().min(self.capacity.saturating_sub(buffer.len()));
        buffer.extend_from_slice(&buf[..amount]);
        Poll::Ready(Ok(amount))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for StderrCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_sees_only_its_own_stderr_within_the_capacity() {
        let capture = StderrCapture::new(8);
        let mut stream = capture.p2_stream();
        stream.write(Bytes::from_static(b"first")).unwrap();
        assert_eq!(&capture.contents()[..], b"first");
        assert!(stream.write(Bytes::from_static(b"toolong")).is_err());
        capture.clear();
        // The stream the guest opened before still writes to the capture.
        stream.write(Bytes::from_static(b"second")).unwrap();
        assert_eq!(&capture.contents()[..], b"second");
        assert_eq!(stream.check_write().unwrap(), 2);
    }
}
