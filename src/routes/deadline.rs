//! Every request body has a read deadline (SPEC §3): it must have arrived `BODY_DEADLINE`
//! after the request's head, or the request is answered 408 and its connection closed. actix's
//! own `client_request_timeout` bounds the head only; without this a client that sends a
//! `Content-Length` and then stalls (or trickles a byte now and then) holds its request open
//! for as long as it likes. One middleware wraps every body, so no route can forget it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::rt::time::{sleep_until, Instant, Sleep};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::Stream;

use super::error_for;
use crate::error::AppError;

/// How long a request's body may take to arrive, from the end of its head. Generous for the
/// bodies this API takes (JSON up to 64 KiB, a form, a partner's report up to 1 MiB, a file up
/// to 10 MiB: 1 MiB a second); behind a proxy that buffers bodies (nginx does by default) it
/// only ever measures the proxy's own transfer.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Wraps the body of every request that has one in `Deadline`; when it ran out, whatever the
/// handler answered to the failed read becomes 408 and the connection is closed (the rest of
/// the body is never read).
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !has_body(&req) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let unread = Rc::new(RefCell::new(None));
    let body = Deadline {
        inner: req.take_payload(),
        at: Instant::now() + BODY_DEADLINE,
        timer: None,
        unread: unread.clone(),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(unread) = unread.borrow_mut().take() else {
        return Ok(res);
    };
    // The handler saw a failed read and answered for it (a 400 or 413 of its own kind).
    let (req, _) = res.into_parts();
    let error = error_for(req.path(), AppError::BodyTimeout);
    let mut res = ServiceResponse::new(req, HttpResponse::from_error(error));
    res.response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    // actix closes a connection whose request body is unread when its answer is written, but
    // drains a chunked one that was dropped — which, stalled, would hold the connection: the
    // body is kept (unread) until the answer is out.
    Ok(res
        .map_body(|_, body| Keeping {
            body,
            _unread: unread,
        })
        .map_into_boxed_body())
}

/// A response body that keeps the request's unread body alive while it is written.
struct Keeping {
    body: BoxBody,
    _unread: Payload,
}

impl MessageBody for Keeping {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Whether a body follows the head: a non-zero length, or chunks.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// A body that fails (`TimedOut`) once `at` has passed and it is still not all there; what is
/// left of it then moves to `unread`, for the middleware. The timer is made on the first wait,
/// so a body already in the buffer costs none.
struct Deadline {
    inner: Payload,
    at: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    unread: Rc<RefCell<Option<Payload>>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.timer.as_ref().is_some_and(|t| t.is_elapsed()) {
            return this.give_up();
        }
        if let Poll::Ready(chunk) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        let at = this.at;
        let timer = this.timer.get_or_insert_with(|| Box::pin(sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => this.give_up(),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Deadline {
    /// The time is up: what is left of the body goes to `unread` (once), and every read fails.
    fn give_up(&mut self) -> Poll<Option<Result<Bytes, PayloadError>>> {
        if !matches!(self.inner, Payload::None) {
            *self.unread.borrow_mut() = Some(self.inner.take());
        }
        Poll::Ready(Some(Err(timed_out())))
    }
}

fn timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request body did not arrive in time",
    ))
}
