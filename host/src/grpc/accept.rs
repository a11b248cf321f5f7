//! The connections the gRPC server accepts, with Nagle's algorithm off.
//!
//! tonic sets `TCP_NODELAY` only on listeners it binds itself; with
//! `serve_with_incoming` (which Hangar needs, to bind before it serves and
//! to report the bound port) the accepted sockets keep Nagle on. A small
//! gRPC answer written while an earlier one is still unacknowledged then
//! waits for the client's delayed ACK, 40 ms on Linux: under load every run
//! showed a slowest call of about 48 ms and a p99 several times the median.
//! grpc-core, which flytekit's server and propeller's client use, turns
//! Nagle off on every connection; so does this.

use futures::{Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::TcpListenerStream;

/// Every connection accepted on `listener`, with `TCP_NODELAY` set.
pub fn without_nagle(listener: TcpListener) -> impl Stream<Item = std::io::Result<TcpStream>> {
    TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        // Only fails on a socket already closed; the server then sees the
        // error on its first read, as it would without this.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = TcpStream::connect(address).await.unwrap();
        let mut accepted = std::pin::pin!(without_nagle(listener));
        let server_side = accepted.next().await.unwrap().unwrap();
        assert!(server_side.nodelay().unwrap());
        // The client's end is untouched: only what the server accepts changes.
        assert!(!client.nodelay().unwrap());
    }
}
