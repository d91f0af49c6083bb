//! What the provider needs from whoever runs it: the component's imports, or a fake in tests.

use crate::{HttpError, Level, LogChunk, Request, Response, ResponseHead, Timestamp};

/// The host side of the contract. Methods take `&self`: the component's imports are free
/// functions, and a test fake keeps its own interior mutability.
pub trait Host {
    type Body: BodyReader;

    fn send(&self, req: &Request) -> Result<Response, HttpError>;
    fn send_streaming(&self, req: &Request) -> Result<(ResponseHead, Self::Body), HttpError>;
    fn log(&self, level: Level, message: &str);
    /// Milliseconds since the Unix epoch, from the host's clock (fixed in replays).
    fn now(&self) -> Timestamp;
    fn emit(&self, chunk: &LogChunk) -> Result<(), String>;
}

/// A response body read piece by piece.
pub trait BodyReader {
    /// Up to `max` bytes; `None` at the end.
    fn read(&mut self, max: u32) -> Result<Option<Vec<u8>>, HttpError>;
}
