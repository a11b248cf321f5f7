//! Caps the bytes one gRPC call may send, answering RESOURCE_EXHAUSTED (the
//! gRPC convention for an oversized message) instead of tonic's own
//! OUT_OF_RANGE.
//!
//! It reads the 5-byte prefix of every gRPC message as the body streams in,
//! so a message that *declares* a length over the limit is refused before
//! its bytes arrive or tonic allocates room for them.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;

/// Tower layer applying [`LimitedBody`] to every request.
#[derive(Clone, Copy)]
pub struct RequestLimitLayer {
    pub max_bytes: usize,
}

impl<S> tower::Layer<S> for RequestLimitLayer {
    type Service = RequestLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLimit {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

#[derive(Clone)]
pub struct RequestLimit<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> tower::Service<http::Request<Body>> for RequestLimit<S>
where
    S: tower::Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let max_bytes = self.max_bytes;
        self.inner.call(request.map(|body| {
            Body::new(LimitedBody {
                inner: body,
                frames: FrameCounter::new(max_bytes),
            })
        }))
    }
}

/// A request body that fails with RESOURCE_EXHAUSTED past the limit.
pub struct LimitedBody {
    inner: Body,
    frames: FrameCounter,
}

/// Follows gRPC message framing (1 flag byte, 4-byte big-endian length,
/// then the message) across arbitrary chunk boundaries.
struct FrameCounter {
    max_bytes: usize,
    /// Bytes of all messages announced so far, prefixes included.
    committed: usize,
    header: [u8; 5],
    header_filled: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
}

impl FrameCounter {
    fn new(max_bytes: usize) -> Self {
        FrameCounter {
            max_bytes,
            committed: 0,
            header: [0; 5],
            header_filled: 0,
            remaining: 0,
        }
    }

    /// Accounts for one chunk; `Err` once the call is over the limit.
    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Status> {
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(chunk.len());
                self.remaining -= take;
                chunk = &chunk[take..];
                continue;
            }
            let take = (5 - self.header_filled).min(chunk.len());
            self.header[self.header_filled..self.header_filled + take]
                .copy_from_slice(&chunk[..take]);
            self.header_filled += take;
            chunk = &chunk[take..];
            if self.header_filled == 5 {
                self.header_filled = 0;
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.committed = self.committed.saturating_add(5).saturating_add(length);
                if self.committed > self.max_bytes {
                    return Err(Status::resource_exhausted(format!(
                        "request is larger than the limit of {} bytes (raise --max-request-bytes to accept it)",
                        self.max_bytes
                    )));
                }
                self.remaining = length;
            }
        }
        Ok(())
    }
}

impl HttpBody for LimitedBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(status) = this.frames.feed(data)
                {
                    return Poll::Ready(Some(Err(status)));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::FrameCounter;

    fn frame(len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(&(len as u32).to_be_bytes());
        bytes.extend(std::iter::repeat_n(7u8, len));
        bytes
    }

    #[test]
    fn counts_messages_across_chunk_boundaries() {
        // (limit, messages, chunk size, accepted?)
        let cases = [
            (100, vec![10, 20], 1, true),
            (100, vec![10, 20], 3, true),
            (35, vec![10, 20], 7, false), // 15 + 25 = 40 > 35
            (100, vec![95], 1000, true),  // exactly 100 bytes
            (100, vec![96], 1000, false),
            (100, vec![96], 1, false),
            (100, vec![40, 40, 40], 64, false),
        ];
        for (limit, messages, chunk, accepted) in cases {
            let body: Vec<u8> = messages.iter().flat_map(|&len| frame(len)).collect();
            let mut counter = FrameCounter::new(limit);
            let result = body.chunks(chunk).try_for_each(|c| counter.feed(c));
            assert_eq!(
                result.is_ok(),
                accepted,
                "limit {limit}, messages {messages:?}, chunk {chunk}"
            );
        }
    }

    #[test]
    fn refuses_a_huge_declared_length_before_its_bytes() {
        let mut counter = FrameCounter::new(1024);
        let header = [0u8, 0x7f, 0xff, 0xff, 0xff];
        let status = counter.feed(&header).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("--max-request-bytes"));
    }
}
