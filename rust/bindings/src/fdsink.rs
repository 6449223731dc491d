//! The log writer's file-descriptor sink: the one place of this crate with `unsafe` code (one
//! block, borrowing a file descriptor the Python stream owns, for the time it takes to duplicate
//! it). Everything else is the standard library's safe `File`.
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use pyo3::exceptions::PyOSError;
use pyo3::PyResult;

/// A copy of the caller's open file descriptor `fd` (`dup`), owned (and closed) by the returned
/// `File`. Writes through it share the file offset (and `O_APPEND`) of the caller's stream.
///
/// Called with the interpreter held, while the Python stream that owns `fd` is alive and open;
/// a negative or closed descriptor is an `OSError`.
pub(crate) fn duplicate(fd: i32) -> PyResult<File> {
    if fd < 0 {
        return Err(PyOSError::new_err(format!("not a file descriptor: {fd}")));
    }
    // SAFETY: `fd` is a descriptor the caller's Python stream holds open for the length of this
    // call (the caller took it from that stream's `fileno()` with the interpreter held, and keeps
    // the stream referenced). The borrow lives only until `try_clone_to_owned` has duplicated it;
    // the duplicate is a new descriptor owned by the returned `File` alone. A descriptor closed
    // meanwhile makes `dup` fail with `EBADF`, an `OSError`.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned = borrowed
        .try_clone_to_owned()
        .map_err(|err| PyOSError::new_err(err.to_string()))?;
    Ok(File::from(owned))
}

/// Write all of `text` from `*offset` on, advancing `*offset` by what each write takes (a partial
/// write goes on with the rest; an interrupted one is tried again at once).
fn write_from(sink: &mut impl io::Write, text: &[u8], offset: &mut usize) -> io::Result<()> {
    while *offset < text.len() {
        match sink.write(&text[*offset..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the sink took nothing",
                ))
            }
            Ok(taken) => *offset += taken,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// `OSError: <what the system said>`, as the Python writer reports a failed write.
fn describe(err: &io::Error) -> String {
    format!("OSError: {err}")
}

/// Write each chunk (whole lines, with its line count) to `sink`: a failed write is tried again
/// after each pause of `pauses`; once a chunk failed every attempt (or when the sink was already
/// `failing`), the next chunks get one attempt each until one succeeds. What a write took is never
/// written again. Returns, per chunk, its line count, the text the sink did not take (`None` when
/// all of it was written) and the message of each failed attempt.
pub(crate) fn write_chunks(
    sink: &mut impl io::Write,
    pieces: Vec<(String, usize)>,
    pauses: &[f64],
    mut failing: bool,
) -> Vec<(usize, Option<String>, Vec<String>)> {
    let mut outcomes = Vec::with_capacity(pieces.len());
    for (text, count) in pieces {
        let bytes = text.as_bytes();
        let mut offset = 0usize;
        let mut errors = Vec::new();
        let attempts: &[f64] = if failing || pauses.is_empty() {
            &[0.0]
        } else {
            pauses
        };
        let mut done = false;
        for &pause in attempts {
            if pause > 0.0 && pause.is_finite() {
                std::thread::sleep(Duration::from_secs_f64(pause.min(60.0)));
            }
            match write_from(sink, bytes, &mut offset) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(err) => errors.push(describe(&err)),
            }
        }
        failing = !done;
        let rest = if done {
            None
        } else {
            // `offset` is on a byte the sink did not take; a write takes whole bytes, so a
            // partial write may end inside a character: the rest is cut at a character boundary
            // at or before it (that character goes to the fallback whole).
            let mut start = offset.min(bytes.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            Some(text[start..].to_owned())
        };
        outcomes.push((count, rest, errors));
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink taking at most `step` bytes a write, failing the writes numbered in `fail_at`.
    struct Flaky {
        taken: Vec<u8>,
        step: usize,
        calls: usize,
        fail_at: Vec<usize>,
    }

    impl io::Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.fail_at.contains(&self.calls) {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.step);
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_go_on_and_a_failed_write_is_retried_from_where_it_stopped() {
        let mut sink = Flaky {
            taken: Vec::new(),
            step: 3,
            calls: 0,
            fail_at: vec![2],
        };
        let out = write_chunks(
            &mut sink,
            vec![("abcdefgh\n".into(), 1)],
            &[0.0, 0.0],
            false,
        );
        assert_eq!(sink.taken, b"abcdefgh\n");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 1);
        assert_eq!(out[0].1, None);
        assert_eq!(out[0].2, vec!["OSError: disk on fire".to_owned()]);
    }

    #[test]
    fn what_the_sink_never_took_comes_back_and_the_next_chunk_gets_one_attempt() {
        let mut sink = Flaky {
            taken: Vec::new(),
            step: 2,
            calls: 0,
            fail_at: vec![2, 3, 4, 5],
        };
        let out = write_chunks(
            &mut sink,
            vec![("é1234\n".into(), 1), ("x\n".into(), 1)],
            &[0.0, 0.0],
            false,
        );
        // The first write took "é" (two bytes); both attempts then failed.
        assert_eq!(sink.taken, "é".as_bytes());
        assert_eq!(out[0].1.as_deref(), Some("1234\n"));
        assert_eq!(out[0].2.len(), 2);
        // The sink is failing: one attempt (call 4, failing) for the next chunk.
        assert_eq!(out[1].1.as_deref(), Some("x\n"));
        assert_eq!(out[1].2.len(), 1);
    }

    #[test]
    fn a_write_cut_inside_a_character_returns_the_whole_character() {
        let mut sink = Flaky {
            taken: Vec::new(),
            step: 1,
            calls: 0,
            fail_at: vec![2],
        };
        let out = write_chunks(&mut sink, vec![("é\n".into(), 1)], &[0.0], false);
        assert_eq!(out[0].1.as_deref(), Some("é\n"));
    }

    #[test]
    fn a_sink_taking_nothing_is_an_error() {
        let mut sink = Flaky {
            taken: Vec::new(),
            step: 0,
            calls: 0,
            fail_at: vec![],
        };
        let out = write_chunks(&mut sink, vec![("a\n".into(), 1)], &[0.0], true);
        assert_eq!(out[0].1.as_deref(), Some("a\n"));
        assert_eq!(out[0].2, vec!["OSError: the sink took nothing".to_owned()]);
    }
}
