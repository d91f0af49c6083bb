//! The component's imports as a [`Host`]: what a provider's exported functions hand to its
//! library code when it runs as a WASI component. Nothing provider-specific lives here.

use crate::bindings::exlogare::ci::{clock, http, log, log_sink};
use crate::{
    BodyReader, Host, HttpError, Level, LogChunk, Request, Response, ResponseHead, Timestamp,
};

/// The host's `exlogare:ci` imports. Stateless: the imports are free functions of the instance.
pub struct Imports;

impl BodyReader for http::BodyStream {
    fn read(&mut self, max: u32) -> Result<Option<Vec<u8>>, HttpError> {
        http::BodyStream::read(self, max)
    }
}

impl Host for Imports {
    type Body = http::BodyStream;

    fn send(&self, req: &Request) -> Result<Response, HttpError> {
        http::send(req)
    }
    fn send_streaming(&self, req: &Request) -> Result<(ResponseHead, http::BodyStream), HttpError> {
        http::send_streaming(req)
    }
    fn log(&self, level: Level, message: &str) {
        log::log(level, message)
    }
    fn now(&self) -> Timestamp {
        clock::now()
    }
    fn emit(&self, chunk: &LogChunk) -> Result<(), String> {
        log_sink::emit(chunk)
    }
}
