use super::*;

/// A sink taking at most `step` bytes a write, failing the writes numbered in `fail_at` (or all
/// of them once `fail_from` is reached), recording what it took.
struct Flaky {
    taken: Arc<Mutex<Vec<u8>>>,
    step: usize,
    calls: usize,
    fail_at: Vec<usize>,
    fail_from: Option<usize>,
}

impl Flaky {
    fn new(step: usize, fail_at: Vec<usize>) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let taken = Arc::new(Mutex::new(Vec::new()));
        let sink = Self {
            taken: Arc::clone(&taken),
            step,
            calls: 0,
            fail_at,
            fail_from: None,
        };
        (sink, taken)
    }
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.fail_at.contains(&self.calls) || self.fail_from.is_some_and(|f| self.calls >= f) {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.step);
        lock(&self.taken).extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that blocks every write until `open` is set.
struct Gated {
    open: Arc<(Mutex<bool>, Condvar)>,
    out: SharedBuffer,
}

impl Write for Gated {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (flag, signal) = &*self.open;
        let mut open = lock(flag);
        while !*open {
            open = signal.wait(open).unwrap_or_else(PoisonError::into_inner);
        }
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn line(i: usize) -> Item {
    Item::Line(format!("{{\"n\":{i}}}"))
}

const TEN_SECONDS: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn every_entry_is_written_once_in_order_across_batches() {
    let out = SharedBuffer::default();
    let pipeline = Pipeline::new(
        Limits {
            capacity: 1 << 20,
            ..Limits::default()
        },
        None,
    );
    pipeline.set_sink(Some(Box::new(out.clone())), false);
    for i in 0..10_000 {
        assert!(pipeline.push(line(i), 16));
    }
    assert!(pipeline.flush(TEN_SECONDS));
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10_000);
    for (i, got) in lines.iter().enumerate() {
        assert_eq!(*got, format!("{{\"n\":{i}}}"));
    }
    let state = pipeline.state();
    assert_eq!(
        (state.written, state.dropped, state.pending),
        (10_000, 0, 0)
    );
}

#[test]
fn entries_are_rendered_and_masked_by_the_writer() {
    let out = SharedBuffer::default();
    let pipeline = Pipeline::new(Limits::default(), None);
    pipeline.set_sink(Some(Box::new(out.clone())), false);
    pipeline.set_resources("12.5".into(), "3.0".into());
    let entry = Entry {
        operation: "login".into(),
        error_message: Some("bad password=hunter2".into()),
        ..Entry::default()
    };
    assert!(pipeline.push(Item::Entry(Box::new(entry)), 512));
    assert!(pipeline.flush(TEN_SECONDS));
    let text = out.text();
    assert!(
        text.contains(r#""error_message":"bad password=***""#),
        "{text}"
    );
    assert!(
        text.contains(r#""memory_usage_mb":12.5,"cpu_usage_percent":3.0"#),
        "{text}"
    );
    assert!(!text.contains("hunter2"));
}

#[test]
fn a_full_queue_waits_then_drops_and_one_stalled_wait_is_enough() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let out = SharedBuffer::default();
    let pipeline = Pipeline::new(
        Limits {
            capacity: 2,
            max_bytes: 1 << 20,
            max_block: Duration::from_millis(500),
        },
        None,
    );
    pipeline.set_sink(
        Some(Box::new(Gated {
            open: Arc::clone(&gate),
            out: out.clone(),
        })),
        false,
    );
    // The writer takes the first entry and blocks in the sink; two more fill the queue.
    assert!(pipeline.push(line(0), 16));
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock(&pipeline.shared.queue).batches == 0 {
        assert!(Instant::now() < deadline, "the writer never took a batch");
        pipeline.shared.wake.notify_one();
        thread::sleep(Duration::from_millis(1));
    }
    assert!(pipeline.push(line(1), 16));
    assert!(pipeline.push(line(2), 16));
    let started = Instant::now();
    assert!(!pipeline.push(line(3), 16)); // waited max_block in vain
    assert!(started.elapsed() >= Duration::from_millis(500));
    let started = Instant::now();
    assert!(!pipeline.push(line(4), 16)); // dropped without the wait: the writer is still stuck
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(pipeline.state().dropped, 2);
    let (flag, signal) = &*gate;
    *lock(flag) = true;
    signal.notify_all();
    assert!(pipeline.flush(TEN_SECONDS));
    assert_eq!(out.text(), "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    let state = pipeline.state();
    assert_eq!((state.written, state.dropped), (3, 2));
}

#[test]
fn the_byte_bound_counts_but_one_entry_always_fits() {
    let pipeline = Pipeline::new(
        Limits {
            capacity: 100,
            max_bytes: 100,
            max_block: Duration::ZERO,
        },
        None,
    );
    pipeline.set_sink(Some(Box::new(io::sink())), false);
    {
        // Fill the queue without waking the writer: hold the queue's lock out of its reach.
        let mut queue = lock(&pipeline.shared.queue);
        queue.started = true; // no writer thread: nothing drains meanwhile
    }
    assert!(pipeline.try_push(line(0), 1000).is_ok()); // alone, a large entry fits
    assert!(pipeline.try_push(line(1), 10).is_err()); // the bytes are used up
    assert_eq!(pipeline.state().queued_bytes, 1000);
}

#[test]
fn a_failing_sink_is_retried_then_counted_and_recovers() {
    let (mut sink, taken) = Flaky::new(usize::MAX, vec![]);
    sink.fail_from = Some(1);
    let pipeline = Pipeline::new(Limits::default(), None);
    pipeline.set_settings(Settings {
        pauses: vec![0.0, 0.0, 0.0],
        ..Settings::default()
    });
    pipeline.set_sink(Some(Box::new(sink)), false);
    assert!(pipeline.push(line(0), 16));
    // Dropped (no fallback for this sink). `flush` says false only when the loss happens after
    // it was called, and the writer may take the entry first: the counters tell.
    pipeline.flush(TEN_SECONDS);
    let state = pipeline.state();
    assert_eq!((state.written, state.dropped, state.sink_errors), (0, 1, 3));
    assert!(state.fallback_active);
    assert!(matches!(
        state.last_error,
        Some((ref message, when)) if message == "OSError: disk on fire" && when > 1.0e9
    ));
    assert!(lock(&taken).is_empty());
    // A new sink that works: written again, and the fallback is over.
    let out = SharedBuffer::default();
    pipeline.set_sink(Some(Box::new(out.clone())), false);
    assert!(pipeline.push(line(1), 16));
    assert!(pipeline.flush(TEN_SECONDS));
    assert_eq!(out.text(), "{\"n\":1}\n");
    assert!(!pipeline.state().fallback_active);
}

#[test]
fn give_up_counts_what_is_left_once() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let pipeline = Pipeline::new(Limits::default(), None);
    pipeline.set_sink(
        Some(Box::new(Gated {
            open: Arc::clone(&gate),
            out: SharedBuffer::default(),
        })),
        false,
    );
    for i in 0..5 {
        assert!(pipeline.push(line(i), 16));
    }
    assert!(!pipeline.flush(Some(Duration::from_millis(20))));
    assert_eq!(pipeline.give_up(), 5);
    let (flag, signal) = &*gate;
    *lock(flag) = true;
    signal.notify_all();
    assert!(pipeline.flush(TEN_SECONDS));
    // The batch the writer was in finished after: counted once, as dropped.
    thread::sleep(Duration::from_millis(50));
    let state = pipeline.state();
    assert_eq!((state.dropped, state.written, state.pending), (5, 0, 0));
}

#[test]
fn in_direct_mode_the_caller_waits_for_its_own_entry() {
    let out = SharedBuffer::default();
    let pipeline = Pipeline::new(Limits::default(), None);
    pipeline.set_sink(Some(Box::new(out.clone())), false);
    assert!(pipeline.push(line(0), 16)); // starts the writer, which then sleeps
    thread::sleep(Duration::from_millis(20));
    pipeline.set_direct(60.0);
    let started = Instant::now();
    assert!(pipeline.push(line(1), 16));
    // Written before push returned, unless the writer took longer than the caller waits.
    assert!(out.text() == "{\"n\":0}\n{\"n\":1}\n" || started.elapsed() >= DIRECT_WAIT);
    assert!(pipeline.flush(TEN_SECONDS));
    assert_eq!(out.text(), "{\"n\":0}\n{\"n\":1}\n");
}

#[test]
fn flush_without_entries_returns_at_once() {
    let pipeline = Pipeline::new(Limits::default(), None);
    assert!(pipeline.flush(Some(Duration::ZERO)));
}

#[test]
fn resources_are_asked_for_once_until_the_writer_asks_again() {
    let pipeline = Pipeline::new(Limits::default(), None);
    assert!(pipeline.resources_wanted());
    assert!(!pipeline.resources_wanted());
    pipeline
        .shared
        .resources_wanted
        .store(true, Ordering::SeqCst);
    assert!(pipeline.resources_wanted());
}

#[test]
fn written_entries_give_their_buffers_back() {
    use crate::logline::{Field, Packed};
    let pipeline = Pipeline::new(Limits::default(), None);
    pipeline.set_sink(Some(Box::new(io::sink())), false);
    let mut packed = Packed::with_buffer(20, 1.0, 1.0, pipeline.buffer());
    packed.push(Field::Operation, Some("op"));
    assert!(pipeline.push(Item::Packed(packed), 64));
    assert!(pipeline.flush(TEN_SECONDS));
    let reused = pipeline.buffer();
    assert!(reused.is_empty() && reused.capacity() >= 128);
}

/// The chunks as they were cut before characters were counted only near the limit: every
/// line's characters counted.
fn chunks_counting_every_line(lines: &[String], limit: usize) -> Vec<(String, usize)> {
    let (mut pieces, mut text, mut size, mut count) = (Vec::new(), String::new(), 0, 0);
    for line in lines {
        let chars = line.chars().count();
        if count > 0 && size + chars + 1 > limit {
            pieces.push((std::mem::take(&mut text), count));
            (size, count) = (0, 0);
        }
        text.push_str(line);
        text.push('\n');
        size += chars + 1;
        count += 1;
    }
    if count > 0 {
        pieces.push((text, count));
    }
    pieces
}

proptest::proptest! {
    #[test]
    fn chunks_are_cut_where_counting_every_line_cuts_them(
        lines in proptest::collection::vec("[a-zé☃😀]{0,12}", 0..40),
        limit in 1..60usize,
    ) {
        proptest::prop_assert_eq!(chunks(&lines, limit), chunks_counting_every_line(&lines, limit));
    }
}

#[test]
fn lines_are_cut_into_chunks_of_whole_lines() {
    let lines: Vec<String> = ["aaaa", "bb", "cccccccccc", "é"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(
        chunks(&lines, 8),
        vec![
            ("aaaa\nbb\n".to_owned(), 2),
            ("cccccccccc\n".to_owned(), 1),
            ("é\n".to_owned(), 1)
        ]
    );
}

#[test]
fn partial_writes_go_on_and_a_failed_write_is_retried_from_where_it_stopped() {
    let (mut sink, taken) = Flaky::new(3, vec![2]);
    let out = write_chunks(
        &mut sink,
        vec![("abcdefgh\n".into(), 1)],
        &[0.0, 0.0],
        false,
    );
    assert_eq!(*lock(&taken), b"abcdefgh\n");
    assert_eq!(
        out,
        vec![(1, None, vec!["OSError: disk on fire".to_owned()])]
    );
}

#[test]
fn what_the_sink_never_took_comes_back_and_the_next_chunk_gets_one_attempt() {
    let (mut sink, taken) = Flaky::new(2, vec![2, 3, 4, 5]);
    let out = write_chunks(
        &mut sink,
        vec![("é1234\n".into(), 1), ("x\n".into(), 1)],
        &[0.0, 0.0],
        false,
    );
    // The first write took "é" (two bytes); both attempts then failed.
    assert_eq!(*lock(&taken), "é".as_bytes());
    assert_eq!(out[0].1.as_deref(), Some("1234\n"));
    assert_eq!(out[0].2.len(), 2);
    // The sink is failing: one attempt for the next chunk.
    assert_eq!(out[1].1.as_deref(), Some("x\n"));
    assert_eq!(out[1].2.len(), 1);
}

#[test]
fn a_write_cut_inside_a_character_returns_the_whole_character() {
    let (mut sink, _) = Flaky::new(1, vec![2]);
    let out = write_chunks(&mut sink, vec![("é\n".into(), 1)], &[0.0], false);
    assert_eq!(out[0].1.as_deref(), Some("é\n"));
}

#[test]
fn a_sink_taking_nothing_is_an_error() {
    let (mut sink, _) = Flaky::new(0, vec![]);
    let out = write_chunks(&mut sink, vec![("a\n".into(), 1)], &[0.0], true);
    assert_eq!(out[0].1.as_deref(), Some("a\n"));
    assert_eq!(out[0].2, vec!["OSError: the sink took nothing".to_owned()]);
}
