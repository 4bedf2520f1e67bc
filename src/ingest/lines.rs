//! Physical lines of the raw file bytes, with exact line numbers and byte offsets, and the
//! SHA-256 of everything read.
//!
//! Lines are split on `\n` before decoding (a trailing `\r` is dropped). That is safe for
//! Shift_JIS, whose trail bytes are 0x40..=0xFC and never 0x0A or 0x0D.

use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest, Sha256};

/// Lines longer than this stop the file: no hospital log has them, and reading an unbounded
/// line would let memory grow with the file.
pub(crate) const MAX_LINE_BYTES: u64 = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A reader that hashes every byte it passes on.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

pub(crate) enum LineError {
    Io(io::Error),
    /// The line (1-based) exceeds [`MAX_LINE_BYTES`].
    TooLong(u64),
}

/// One physical line.
pub(crate) struct RawLine<'a> {
    /// 1-based physical line number.
    pub number: u64,
    /// Offset of the line's first byte in the original file (a BOM counts: line 1 is at 0).
    pub offset: u64,
    /// The line without its terminator and, on line 1, without a UTF-8 BOM.
    pub bytes: &'a [u8],
    /// A UTF-8 BOM was stripped from this line.
    pub bom: bool,
}

pub(crate) struct LineReader<R> {
    inner: BufReader<Hashing<R>>,
    buf: Vec<u8>,
    next_offset: u64,
    number: u64,
    bom: bool,
}

impl<R: Read> LineReader<R> {
    pub(super) fn new(inner: R) -> Self {
        LineReader {
            inner: BufReader::with_capacity(256 * 1024, Hashing { inner, hasher: Sha256::new() }),
            buf: Vec::with_capacity(1024),
            next_offset: 0,
            number: 0,
            bom: false,
        }
    }

    /// Whether line 1 started with a UTF-8 BOM (valid once line 1 was read).
    pub(super) fn had_bom(&self) -> bool {
        self.bom
    }

    pub(super) fn next_line(&mut self) -> Result<Option<RawLine<'_>>, LineError> {
        self.buf.clear();
        let n = (&mut self.inner)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(LineError::Io)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if n as u64 > MAX_LINE_BYTES {
            return Err(LineError::TooLong(self.number));
        }
        let offset = self.next_offset;
        self.next_offset += n as u64;
        let mut end = self.buf.len();
        if self.buf[..end].ends_with(b"\n") {
            end -= 1;
        }
        if self.buf[..end].ends_with(b"\r") {
            end -= 1;
        }
        let mut start = 0;
        if self.number == 1 && self.buf.starts_with(BOM) {
            start = BOM.len();
            self.bom = true;
        }
        Ok(Some(RawLine {
            number: self.number,
            offset,
            bytes: &self.buf[start..end.max(start)],
            bom: start > 0,
        }))
    }

    /// Number of the last line read (0 before the first).
    pub(super) fn line_number(&self) -> u64 {
        self.number
    }

    /// Bytes consumed so far, i.e. the file size once [`LineReader::finish`] ran.
    pub(super) fn bytes_read(&self) -> u64 {
        self.next_offset
    }

    /// Reads what is left (so the hash covers the whole file) and returns the hex SHA-256 of
    /// the file bytes.
    pub(super) fn finish(&mut self) -> io::Result<String> {
        self.next_offset += io::copy(&mut self.inner, &mut io::sink())?;
        self.wipe();
        Ok(hex::encode(self.inner.get_ref().hasher.clone().finalize()))
    }

    /// Overwrites the line buffer, which held raw patient numbers.
    pub(super) fn wipe(&mut self) {
        wipe(&mut self.buf);
    }
}

impl<R> Drop for LineReader<R> {
    fn drop(&mut self) {
        wipe(&mut self.buf);
    }
}

/// Best-effort overwrite of a scratch buffer that held raw row text.
pub(crate) fn wipe(buf: &mut Vec<u8>) {
    buf.fill(0);
    std::hint::black_box(&buf);
    buf.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
        let mut r = LineReader::new(bytes);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().ok().unwrap() {
            out.push((l.number, l.offset, l.bytes.to_vec()));
        }
        out
    }

    #[test]
    fn lf_crlf_bom_and_offsets() {
        let lines = collect(b"\xEF\xBB\xBFa,b\r\n\r\nc\nd");
        assert_eq!(
            lines,
            vec![
                (1, 0, b"a,b".to_vec()),
                (2, 8, b"".to_vec()),
                (3, 10, b"c".to_vec()),
                (4, 12, b"d".to_vec()),
            ]
        );
    }

    #[test]
    fn sha256_covers_the_whole_file() {
        let data = b"x\ny\n";
        let mut r = LineReader::new(&data[..]);
        assert!(r.next_line().ok().unwrap().is_some());
        // stop early: finish still hashes everything
        assert_eq!(r.finish().unwrap(), hex::encode(Sha256::digest(data)),);
    }

    #[test]
    fn overlong_line_is_an_error_not_a_memory_leak() {
        let data = vec![b'a'; (MAX_LINE_BYTES + 10) as usize];
        let mut r = LineReader::new(&data[..]);
        assert!(matches!(r.next_line(), Err(LineError::TooLong(1))));
    }
}
