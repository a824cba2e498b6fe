//! An open file: its version, pinned at `open` (every byte a handle reads
//! is of that version: a source with another is skipped, and if none has
//! it the read fails rather than mix two), and the read-ahead of a
//! sequential reader.
//!
//! A reader is sequential when a `read` starts where the last one ended
//! (or within bytes already fetched). Its reads are met from a window
//! fetched whole — 512 KiB at first, doubling up to
//! `azimuth.mount.readahead.max` — and, while it stays sequential, the next
//! window is fetched in the background. A random `read` fetches exactly
//! the bytes asked. A handle holds at most two windows (the current one
//! and the one ahead): memory is bounded by open files times twice the
//! ceiling, whatever the files' sizes. `release` drops both and stops the
//! fetch ahead.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use azimuth_client::{Client, ReadError, ReadOptions};
use azimuth_ufs::UfsFile;
use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::metrics::MountMetrics;

/// A sequential reader's first window.
const FIRST_WINDOW: u64 = 512 << 10;

/// Bytes of the file, from `start`.
struct Chunk {
    start: u64,
    bytes: Bytes,
    /// Fetched ahead, in the background.
    ahead: bool,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    fn covers(&self, at: u64) -> bool {
        self.start <= at && at < self.end()
    }
}

/// The fetch of the next window, under way.
struct Ahead {
    start: u64,
    task: JoinHandle<Result<Bytes, ReadError>>,
}

struct ReadState {
    /// Where a sequential reader reads next.
    next: u64,
    /// Reads in a row that were sequential.
    streak: u32,
    window: u64,
    current: Option<Chunk>,
    ahead: Option<Ahead>,
}

impl Drop for ReadState {
    fn drop(&mut self) {
        if let Some(ahead) = self.ahead.take() {
            ahead.task.abort();
        }
    }
}

/// What reads of open files share.
pub(crate) struct Reading {
    pub(crate) client: Client,
    pub(crate) readahead_max: u64,
    pub(crate) metrics: Arc<MountMetrics>,
}

impl Reading {
    fn options(file: &UfsFile) -> ReadOptions {
        ReadOptions {
            etag: Some(file.etag().to_owned()),
            quiet: true,
        }
    }

    async fn fetch(&self, file: &UfsFile, from: u64, length: u64) -> Result<Bytes, ReadError> {
        let (read, _) = self
            .client
            .read_all_with(&file.path, from, Some(length), Self::options(file))
            .await;
        read
    }
}

/// A file opened for reading.
pub(crate) struct OpenFile {
    pub(crate) file: UfsFile,
    state: tokio::sync::Mutex<ReadState>,
}

impl OpenFile {
    pub(crate) fn new(file: UfsFile) -> Self {
        Self {
            file,
            state: tokio::sync::Mutex::new(ReadState {
                next: 0,
                streak: 0,
                window: FIRST_WINDOW,
                current: None,
                ahead: None,
            }),
        }
    }

    /// `size` bytes from `offset` (fewer at the end of the file, none past it).
    pub(crate) async fn read(
        &self,
        reading: &Reading,
        offset: u64,
        size: u32,
    ) -> Result<Bytes, ReadError> {
        let length = self.file.length;
        let end = offset.saturating_add(u64::from(size)).min(length);
        if offset >= end {
            return Ok(Bytes::new());
        }
        // Concurrent reads of one handle take turns: they share its windows.
        let mut state = self.state.lock().await;
        let covered = state.current.as_ref().is_some_and(|c| c.covers(offset))
            || state.ahead.as_ref().is_some_and(|a| a.start == offset);
        let sequential = offset == state.next || covered;
        if sequential {
            state.streak = state.streak.saturating_add(1);
        } else {
            state.streak = 0;
            state.window = FIRST_WINDOW;
            if let Some(ahead) = state.ahead.take() {
                ahead.task.abort();
            }
        }
        state.next = end;
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut at = offset;
        let mut from_ahead = false;
        while at < end {
            if let Some(chunk) = state.current.as_ref().filter(|c| c.covers(at)) {
                let upto = end.min(chunk.end());
                pieces.push(
                    chunk
                        .bytes
                        .slice((at - chunk.start) as usize..(upto - chunk.start) as usize),
                );
                from_ahead |= chunk.ahead;
                at = upto;
                continue;
            }
            if let Some(ahead) = state.ahead.take() {
                if ahead.start == at {
                    let bytes = match ahead.task.await {
                        Ok(fetched) => fetched?,
                        // Aborted or panicked: fetch it on this read.
                        Err(_) => self.fetch_window(reading, &mut state, at, end).await?,
                    };
                    state.current = Some(Chunk {
                        start: at,
                        bytes,
                        ahead: true,
                    });
                    continue;
                }
                ahead.task.abort();
            }
            let bytes = if sequential && state.streak > 1 {
                self.fetch_window(reading, &mut state, at, end).await?
            } else {
                reading
                    .metrics
                    .exact_fetches
                    .fetch_add(1, Ordering::Relaxed);
                reading.fetch(&self.file, at, end - at).await?
            };
            state.current = Some(Chunk {
                start: at,
                bytes,
                ahead: false,
            });
        }
        if from_ahead {
            reading
                .metrics
                .readahead_hits
                .fetch_add(1, Ordering::Relaxed);
        }
        if sequential && state.streak > 1 && state.ahead.is_none() {
            self.fetch_ahead(reading, &mut state);
        }
        reading
            .metrics
            .read_bytes
            .fetch_add(end - offset, Ordering::Relaxed);
        Ok(match pieces.len() {
            1 => pieces.pop().expect("one piece"),
            _ => {
                let mut joined = BytesMut::with_capacity((end - offset) as usize);
                pieces.iter().for_each(|p| joined.extend_from_slice(p));
                joined.freeze()
            }
        })
    }

    /// The window from `at` (at least to `end`), fetched now; the next one
    /// is twice as long, up to the ceiling.
    async fn fetch_window(
        &self,
        reading: &Reading,
        state: &mut ReadState,
        at: u64,
        end: u64,
    ) -> Result<Bytes, ReadError> {
        let length = state.window.max(end - at).min(self.file.length - at);
        state.window = (state.window * 2).min(reading.readahead_max);
        reading
            .metrics
            .window_fetches
            .fetch_add(1, Ordering::Relaxed);
        reading.fetch(&self.file, at, length).await
    }

    /// Starts fetching the window after the current one, in the background.
    fn fetch_ahead(&self, reading: &Reading, state: &mut ReadState) {
        let Some(start) = state.current.as_ref().map(Chunk::end) else {
            return;
        };
        if start >= self.file.length {
            return;
        }
        let length = state.window.min(self.file.length - start);
        state.window = (state.window * 2).min(reading.readahead_max);
        let (client, file, metrics) = (
            reading.client.clone(),
            self.file.clone(),
            reading.metrics.clone(),
        );
        let task = tokio::spawn(async move {
            let (read, _) = client
                .read_all_with(&file.path, start, Some(length), Reading::options(&file))
                .await;
            if let Ok(bytes) = &read {
                metrics
                    .readahead_bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            read
        });
        state.ahead = Some(Ahead { start, task });
    }
}
