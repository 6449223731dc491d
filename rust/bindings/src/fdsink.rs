//! The log pipeline's file-descriptor sink: the one place of this crate with `unsafe` code (one
//! block, borrowing a file descriptor the Python stream owns, for the time it takes to duplicate
//! it). The duplicate is a standard library `File`, written by the core's writer thread.
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;

/// A copy of the caller's open file descriptor `fd` (`dup`), owned (and closed) by the returned
/// `File`. Writes through it share the file offset (and `O_APPEND`) of the caller's stream.
///
/// Called with the interpreter held, while the Python stream that owns `fd` is alive and open;
/// a negative or closed descriptor is an error (`OSError` in Python).
pub(crate) fn duplicate(fd: i32) -> io::Result<File> {
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a file descriptor: {fd}"),
        ));
    }
    // SAFETY: `fd` is a descriptor the caller's Python stream holds open for the length of this
    // call (the caller took it from that stream's `fileno()` with the interpreter held, and keeps
    // the stream referenced). The borrow lives only until `try_clone_to_owned` has duplicated it;
    // the duplicate is a new descriptor owned by the returned `File` alone. A descriptor closed
    // meanwhile makes `dup` fail with `EBADF`, an `OSError`.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(File::from(borrowed.try_clone_to_owned()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn the_duplicate_writes_to_the_same_file_and_outlives_the_original() -> std::io::Result<()> {
        let path = std::env::temp_dir().join(format!("rfs-fdsink-{}.log", std::process::id()));
        let original = File::create(&path)?;
        let mut copy = duplicate(original.as_raw_fd())?;
        drop(original);
        copy.write_all(b"line\n")?;
        let mut text = String::new();
        let mut reader = File::open(&path)?;
        reader.rewind()?;
        reader.read_to_string(&mut text)?;
        assert_eq!(text, "line\n");
        std::fs::remove_file(&path)
    }

    #[test]
    fn a_negative_descriptor_is_an_error() {
        let err = duplicate(-1).err().map(|err| err.to_string());
        assert_eq!(err.as_deref(), Some("not a file descriptor: -1"));
    }
}
