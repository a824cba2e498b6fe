//! The on-disk format of one cached page, and reading and writing it.
//!
//! A page file is a header followed by the page's data. The data is split in
//! blocks of [`BLOCK_SIZE`] bytes, each with its CRC32 in the header, so a
//! small read verifies only the blocks it touches (a 4 KiB read of a 1 MiB
//! page reads and checks 4-8 KiB, not the whole page). The header has its
//! own CRC. A page is written to a temporary file and renamed into place, so
//! a reader sees the old file, the new file, or none; a crash can still leave
//! a torn file after the rename (no fsync), and then the checksums reject it
//! and it is fetched again, never served.
//!
//! ```text
//! 0   magic "AZPAGE01"
//! 8   header length (u32, little endian) = 32 + 4 * blocks
//! 12  data length (u32)
//! 16  block size (u32)
//! 20  blocks (u32)
//! 24  CRC32 of bytes 0..24 and of the block CRCs
//! 28  zero
//! 32  CRC32 of each block (u32 each)
//! ..  data
//! ```

use std::fs::File;
use std::io::Write;
use std::path::Path;

use bytes::{Bytes, BytesMut};

/// Bytes covered by one checksum.
pub const BLOCK_SIZE: usize = 4096;
const MAGIC: &[u8; 8] = b"AZPAGE01";
const FIXED: usize = 32;

/// Why a page file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PageReadError {
    /// A checksum or the header does not hold: the page must not be served.
    #[error("page file corrupt: {0}")]
    Corrupt(String),
    /// The disk failed.
    #[error("page file unreadable: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes `data` as a page file's bytes.
pub fn encode(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(BLOCK_SIZE);
    let header_len = FIXED + 4 * blocks;
    let mut out = Vec::with_capacity(header_len + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header_len as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
    out.extend_from_slice(&(blocks as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    for block in data.chunks(BLOCK_SIZE) {
        out.extend_from_slice(&crc32fast::hash(block).to_le_bytes());
    }
    let crc = header_crc(&out[..24], &out[FIXED..header_len]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn header_crc(fixed: &[u8], block_crcs: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(fixed);
    hasher.update(block_crcs);
    hasher.finalize()
}

/// Writes a page file atomically: a temporary file in the same directory,
/// then a rename. A write that fails (a full disk) leaves nothing behind:
/// neither a torn page nor the temporary file's room.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<u64> {
    let dir = path.parent().expect("page paths have a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let encoded = encode(data);
    let written = File::create(&tmp)
        .and_then(|mut file| file.write_all(&encoded))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(encoded.len() as u64)
}

/// A checked page header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Bytes before the data.
    pub header_len: usize,
    /// Bytes of data.
    pub data_len: usize,
    crcs: Vec<u32>,
}

/// Bytes read at once from the start of a page file: the whole header of
/// pages up to 4 MiB, and with it the data of small files, in one `pread`.
const FIRST_READ: usize = 8192;

/// Reads up to `len` bytes at `offset` into a fresh buffer (not zeroed first:
/// the memset would cost as much as the read).
fn pread(file: &File, len: usize, offset: u64) -> std::io::Result<BytesMut> {
    use std::os::fd::AsRawFd;
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        let filled = buf.len();
        let want = len - filled;
        let spare = buf.spare_capacity_mut();
        // SAFETY: pread writes at most `want` bytes into the spare capacity,
        // which has room for them; the bytes it reports written are
        // initialized before `set_len` exposes them.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                want,
                (offset + filled as u64) as libc::off_t,
            )
        };
        match n {
            0 => break,
            // SAFETY: pread initialized these `n` bytes.
            n if n > 0 => unsafe { buf.set_len(filled + n as usize) },
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(buf)
}

/// Parses and checks a header from the first bytes of a page file, reading
/// more of the file if the header is longer than them.
fn parse_header(file: &File, first: &[u8]) -> Result<Header, PageReadError> {
    if first.len() < FIXED {
        return Err(PageReadError::Corrupt("truncated".into()));
    }
    let fixed = &first[..FIXED];
    if &fixed[..8] != MAGIC {
        return Err(PageReadError::Corrupt("bad magic".into()));
    }
    let field = |at: usize| u32::from_le_bytes(fixed[at..at + 4].try_into().unwrap()) as usize;
    let (header_len, data_len, block_size, blocks) = (field(8), field(12), field(16), field(20));
    if block_size != BLOCK_SIZE
        || blocks != data_len.div_ceil(BLOCK_SIZE)
        || header_len != FIXED + 4 * blocks
    {
        return Err(PageReadError::Corrupt("inconsistent header".into()));
    }
    let more;
    let raw = if first.len() >= header_len {
        &first[FIXED..header_len]
    } else {
        more = pread(file, header_len - first.len(), first.len() as u64)?;
        if first.len() + more.len() < header_len {
            return Err(PageReadError::Corrupt("truncated".into()));
        }
        let mut joined = first[FIXED..].to_vec();
        joined.extend_from_slice(&more);
        return finish_header(fixed, &joined, header_len, data_len);
    };
    finish_header(fixed, raw, header_len, data_len)
}

fn finish_header(
    fixed: &[u8],
    raw: &[u8],
    header_len: usize,
    data_len: usize,
) -> Result<Header, PageReadError> {
    let stored = u32::from_le_bytes(fixed[24..28].try_into().unwrap());
    if header_crc(&fixed[..24], raw) != stored {
        return Err(PageReadError::Corrupt("header checksum mismatch".into()));
    }
    let crcs = raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ok(Header {
        header_len,
        data_len,
        crcs,
    })
}

/// Reads and checks the header of an open page file.
pub fn read_header(file: &File) -> Result<Header, PageReadError> {
    let first = pread(file, FIRST_READ, 0)?;
    parse_header(file, &first)
}

/// The header length of a page holding `data_len` bytes.
pub fn header_len(data_len: usize) -> usize {
    FIXED + 4 * data_len.div_ceil(BLOCK_SIZE)
}

/// Reads bytes `start..end` of the data of a page holding `data_len` bytes
/// (as the index recorded it), verifying every block they touch. `end` is
/// clamped to the data length. When the blocks lie near the start of the
/// file, header and data come in one `pread`.
pub fn read_range(
    file: &File,
    data_len: usize,
    start: usize,
    end: usize,
) -> Result<Bytes, PageReadError> {
    let header_len = header_len(data_len);
    let end = end.min(data_len);
    if start >= end {
        return Ok(Bytes::new());
    }
    let first_block = start / BLOCK_SIZE;
    let last_block = (end - 1) / BLOCK_SIZE;
    let from = first_block * BLOCK_SIZE;
    let to = ((last_block + 1) * BLOCK_SIZE).min(data_len);
    let (data_from, data_to) = (header_len + from, header_len + to);
    let (header, blocks) = if data_from <= FIRST_READ {
        let all = pread(file, data_to, 0)?;
        let header = parse_header(file, &all)?;
        if all.len() < data_to {
            return Err(PageReadError::Corrupt("truncated".into()));
        }
        (header, all.freeze().slice(data_from..))
    } else {
        let head = pread(file, header_len, 0)?;
        let header = parse_header(file, &head)?;
        (header, pread(file, to - from, data_from as u64)?.freeze())
    };
    if header.data_len != data_len || blocks.len() < to - from {
        return Err(PageReadError::Corrupt(
            "truncated or not the page indexed".into(),
        ));
    }
    for (i, block) in blocks.chunks(BLOCK_SIZE).enumerate() {
        if crc32fast::hash(block) != header.crcs[first_block + i] {
            return Err(PageReadError::Corrupt(format!(
                "block {} checksum mismatch",
                first_block + i
            )));
        }
    }
    Ok(blocks.slice(start - from..end - from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    #[test]
    fn ranges_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let data = sample(3 * BLOCK_SIZE + 123);
        write(&path, &data).unwrap();
        for (a, b) in [
            (0, data.len()),
            (1, 2),
            (4095, 4097),
            (8192, 12288),
            (100, 99_999),
        ] {
            let got = read_range(&File::open(&path).unwrap(), data.len(), a, b).unwrap();
            assert_eq!(&got[..], &data[a..b.min(data.len())], "range {a}..{b}");
        }
    }

    #[test]
    fn a_flipped_byte_is_caught_in_data_and_in_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let data = sample(2 * BLOCK_SIZE);
        let disk_len = write(&path, &data).unwrap() as usize;
        let flip = |at: usize| {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[at] ^= 0x40;
            std::fs::write(&path, bytes).unwrap();
        };
        flip(disk_len - 1);
        // A read of the other block still succeeds: only touched blocks are checked.
        assert_eq!(
            &read_range(&File::open(&path).unwrap(), data.len(), 0, 10).unwrap()[..],
            &data[..10]
        );
        assert!(matches!(
            read_range(
                &File::open(&path).unwrap(),
                data.len(),
                BLOCK_SIZE,
                2 * BLOCK_SIZE
            ),
            Err(PageReadError::Corrupt(_))
        ));
        write(&path, &data).unwrap();
        flip(33);
        assert!(matches!(
            read_range(&File::open(&path).unwrap(), data.len(), 0, 10),
            Err(PageReadError::Corrupt(_))
        ));
    }

    #[test]
    fn a_truncated_page_is_corrupt_not_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let data = sample(2 * BLOCK_SIZE);
        let len = write(&path, &data).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 100).unwrap();
        assert!(matches!(
            read_range(&File::open(&path).unwrap(), data.len(), 0, 2 * BLOCK_SIZE),
            Err(PageReadError::Corrupt(_))
        ));
    }
}
