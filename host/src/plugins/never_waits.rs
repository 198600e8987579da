//! WASI streams and pollables that never wait, so a plugin call can run on any thread, an async
//! runtime's own included.
//!
//! wasmtime-wasi's synchronous bindings run every operation that may wait (a blocking write, a
//! flush, closing a stream, waiting on a pollable) by blocking the thread on a tokio runtime,
//! which panics on a thread that is already running one. A plugin has nothing to wait for: its
//! standard output and error discard what they get, its standard input is closed, and it has no
//! files or network. So these operations are given their answer at once, and one that would
//! still wait (a plugin that sleeps, say) stops the call with an error instead of holding its
//! thread past the call's deadline, which the epoch cannot enforce while the host is waiting.

use std::future::Future;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::io::{poll as async_poll, streams as async_streams};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode};
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::bindings::sync::sockets::udp::IpAddressFamily;
use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, DynPollable, IoError, SocketError, SocketResult, StreamError,
    StreamResult, UdpSocket,
};
use wasmtime_wasi::sockets::{WasiSocketsCtxView, WasiSocketsView as _};

/// Replaces, in a linker that already has WASI p2's synchronous interfaces, the ones that could
/// wait: `wasi:io/streams`, `wasi:io/poll`, and `wasi:sockets/udp-create-socket` (which a plugin
/// may not use anyway: its context allows no TCP or UDP, see `sandbox::sealed_wasi`, and refuses
/// here before wasmtime-wasi would enter tokio to refuse).
pub(crate) fn add_to_linker<T: WasiView + Send + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = add(linker);
    linker.allow_shadowing(false);
    added
}

fn add<T: WasiView + Send + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    streams::add_to_linker::<T, NeverWaitsIo>(linker, |t| NeverWaits(t.ctx().table))?;
    poll::add_to_linker::<T, NeverWaitsIo>(linker, |t| NeverWaits(t.ctx().table))?;
    udp_create_socket::add_to_linker::<T, NoUdpSockets>(linker, |t| NoUdp(t.sockets()))?;
    Ok(())
}

/// A call's resource table, seen through operations that never wait.
struct NeverWaits<'a>(&'a mut ResourceTable);

struct NeverWaitsIo;

impl HasData for NeverWaitsIo {
    type Data<'a> = NeverWaits<'a>;
}

/// The answer of `future` if it has one at once. Nothing here waits on tokio, but a pollable
/// made from a tokio timer is still polled within a runtime, as wasmtime-wasi's own code would be.
fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| wasmtime_wasi::runtime::poll_noop(future.as_mut()))
}

/// The answer of `future` if it has one at once, else the error that stops the call.
fn at_once<R>(what: &str, future: impl Future<Output = wasmtime::Result<R>>) -> wasmtime::Result<R> {
    now_or_never(future).unwrap_or_else(|| Err(would_wait(what)))
}

/// [`at_once`] for stream operations, whose errors carry a trap of their own.
fn stream_at_once<R>(what: &str, future: impl Future<Output = StreamResult<R>>) -> StreamResult<R> {
    now_or_never(future).unwrap_or_else(|| Err(StreamError::Trap(would_wait(what))))
}

fn would_wait(what: &str) -> wasmtime::Error {
    wasmtime::format_err!(
        "the plugin waited ({what}); a plugin call may not wait: no sleeping and no blocking I/O"
    )
}

impl streams::Host for NeverWaits<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.0, err)
    }
}

impl streams::HostOutputStream for NeverWaits<'_> {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        at_once("closing an output stream", async_streams::HostOutputStream::drop(self.0, stream))
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.0, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(self.0, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        let written = async_streams::HostOutputStream::blocking_write_and_flush(self.0, stream, bytes);
        stream_at_once("writing to an output stream", written)
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        let written = async_streams::HostOutputStream::blocking_write_zeroes_and_flush(self.0, stream, len);
        stream_at_once("writing to an output stream", written)
    }

    fn subscribe(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(self.0, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.0, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.0, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        stream_at_once(
            "flushing an output stream",
            async_streams::HostOutputStream::blocking_flush(self.0, stream),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.0, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        let spliced = async_streams::HostOutputStream::blocking_splice(self.0, dst, src, len);
        stream_at_once("copying between streams", spliced)
    }
}

impl streams::HostInputStream for NeverWaits<'_> {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        at_once("closing an input stream", async_streams::HostInputStream::drop(self.0, stream))
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.0, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        stream_at_once(
            "reading an input stream",
            async_streams::HostInputStream::blocking_read(self.0, stream, len),
        )
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.0, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        stream_at_once(
            "reading an input stream",
            async_streams::HostInputStream::blocking_skip(self.0, stream, len),
        )
    }

    fn subscribe(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(self.0, stream)
    }
}

impl poll::Host for NeverWaits<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        at_once("polling for readiness", async_poll::Host::poll(self.0, pollables))
    }
}

impl poll::HostPollable for NeverWaits<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        // Asking costs no wait: a pollable with no answer yet is not ready.
        now_or_never(async_poll::HostPollable::ready(self.0, pollable)).unwrap_or(Ok(false))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        at_once("blocking on a pollable", async_poll::HostPollable::block(self.0, pollable))
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.0, pollable)
    }
}

/// `wasi:sockets/udp-create-socket` for a plugin: there is no network to make a socket for.
/// (The other interfaces of `wasi:sockets` are wasmtime-wasi's: they refuse without waiting.)
struct NoUdp<'a>(WasiSocketsCtxView<'a>);

struct NoUdpSockets;

impl HasData for NoUdpSockets {
    type Data<'a> = NoUdp<'a>;
}

impl network::Host for NoUdp<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.0, error)
    }

    fn network_error_code(&mut self, error: Resource<IoError>) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.0, error)
    }
}

impl network::HostNetwork for NoUdp<'_> {
    fn drop(&mut self, network: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.0, network)
    }
}

impl udp_create_socket::Host for NoUdp<'_> {
    fn create_udp_socket(&mut self, _: IpAddressFamily) -> SocketResult<Resource<UdpSocket>> {
        Err(ErrorCode::AccessDenied.into())
    }
}
