use super::*;
use crate::Outcome;
use proptest::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "rfs-seg-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            new_token()
        ));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn options(dir: &TempDir) -> SharedOptions {
    SharedOptions {
        // The tests write by hand: a writer thread that never wakes up during a test.
        sync_interval: Duration::from_secs(3_600),
        ..SharedOptions::new(&dir.0)
    }
}

fn open(dir: &TempDir) -> Result<Arc<Registry>, SharedError> {
    Registry::open_shared(Config::default(), options(dir))
}

fn failure(code: &str, message: &str) -> Outcome {
    Outcome::Failure {
        code: Some(code.to_owned()),
        message: Some(message.to_owned()),
    }
}

/// Sample `i` of a deterministic mix: one a second (time moves forwards, as in a process),
/// latencies over four decades, a failure in five.
fn sample(i: u32) -> (f64, f64, Outcome) {
    let t = 1_000_000.0 + f64::from(i);
    let ms = f64::from((i * 7_919) % 10_000) / 10.0 + 0.5;
    let outcome = match i % 5 {
        0 => failure(
            ["E_A", "E_B", "E_C"][(i / 5 % 3) as usize],
            &format!("m{}", i % 4),
        ),
        _ => Outcome::Success,
    };
    (t, ms, outcome)
}

fn forget_listing(registry: &Registry) {
    if let Some(shared) = &registry.shared {
        shared.cache.lock().listed = None;
    }
}

fn segment_bytes(registry: &Registry) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let shared = registry.shared.as_ref().ok_or("not shared")?;
    let stem = shared.me.lock().stem();
    Ok(fs::read(shared.dir.join(format!("{stem}.seg")))?)
}

fn filled_registry() -> Result<Registry, Box<dyn std::error::Error>> {
    let reg = Registry::new(Config::default())?;
    let a = reg.register("a")?.id;
    let b = reg.register("b")?.id;
    for i in 0..2_000 {
        let (t, ms, outcome) = sample(i);
        reg.record(if i % 3 == 0 { a } else { b }, t, ms, outcome)?;
    }
    reg.record_exemplar(a, 1_000_001.0, 3.0, &"a".repeat(32), &"b".repeat(16));
    reg.record_resources(1_000_000.0, 120.0, 12.5);
    Ok(reg)
}

#[test]
fn a_segment_round_trips() -> TestResult {
    let reg = filled_registry()?;
    let header = Header {
        pid: 42,
        token: 7,
        started: 1.5,
        written: 2.5,
        generation: 9,
    };
    let bytes = encode(&header, &reg.locked_state(), &[3, 4]);
    let decoded = decode(&bytes)?;
    assert_eq!(decoded.header, header);
    assert_eq!(decoded.absorbed, vec![3, 4]);
    // Encoding what was decoded gives the same bytes: nothing was lost or changed.
    assert_eq!(encode(&header, &decoded.state, &[3, 4]), bytes);
    assert_eq!(decoded.state.ops.len(), 2);
    let life = &decoded.state.op("a").ok_or("missing")?.life;
    assert_eq!(life.total, reg.cumulative()[0].total);
    assert!(life.exemplars.iter().any(Option::is_some));
    Ok(())
}

#[test]
fn the_hand_written_payload_is_the_derived_messages_wire_format() -> TestResult {
    let reg = filled_registry()?;
    let plain = payload_bytes(&reg.locked_state(), &[5, 6]);
    // As prost's derived messages read it, and as they would write it.
    let read = proto::Segment::decode(plain.as_slice())?;
    assert_eq!(read, state_to_proto(&reg.locked_state(), &[5, 6]));
    assert_eq!(read.encode_to_vec(), plain);
    // The buckets' kept bytes give the same payload, and a change drops the changed bucket's.
    keep_bucket_bytes(&mut reg.locked_state());
    assert_eq!(payload_bytes(&reg.locked_state(), &[5, 6]), plain);
    let op = reg.register("a")?.id;
    reg.record(op, 1_000_001.0, 7.0, failure("E_NEW", "new"))?;
    let fresh = payload_bytes(&reg.locked_state(), &[]);
    keep_bucket_bytes(&mut reg.locked_state());
    assert_eq!(payload_bytes(&reg.locked_state(), &[]), fresh);
    assert_eq!(
        proto::Segment::decode(fresh.as_slice())?,
        state_to_proto(&reg.locked_state(), &[])
    );
    // The hand-written reader and the derived messages read the same state.
    let by_hand = read::segment(&fresh)?.0;
    let derived = state_from_proto(proto::Segment::decode(fresh.as_slice())?)?;
    assert_eq!(payload_bytes(&by_hand, &[]), payload_bytes(&derived, &[]));
    assert_eq!(payload_bytes(&by_hand, &[]), fresh);
    Ok(())
}

#[test]
fn damaged_segments_are_refused() -> TestResult {
    let reg = filled_registry()?;
    let header = Header {
        pid: 1,
        token: 1,
        started: 0.0,
        written: 0.0,
        generation: 1,
    };
    let good = encode(&header, &reg.locked_state(), &[]);
    assert!(decode(&good).is_ok());
    let mut flipped = good.clone();
    if let Some(byte) = flipped.get_mut(HEADER_BYTES + 10) {
        *byte ^= 0x40;
    }
    assert_eq!(decode(&flipped).err(), Some(SegmentError::Checksum));
    let mut magic = good.clone();
    magic[0] = b'X';
    assert_eq!(decode(&magic).err(), Some(SegmentError::Magic));
    let mut version = good.clone();
    version[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(decode(&version).err(), Some(SegmentError::Version(2)));
    for cut in [0, 7, 30, HEADER_BYTES, good.len() - 1] {
        assert_eq!(
            decode(&good[..cut]).err(),
            Some(SegmentError::Truncated),
            "cut {cut}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(decode(&longer).err(), Some(SegmentError::Length));
    assert_eq!(
        decode(b"garbage garbage garbage").err(),
        Some(SegmentError::Magic)
    );
    // A payload with a valid checksum that breaks an invariant (a code id past the table).
    let mut message = state_to_proto(&reg.locked_state(), &[]);
    message.codes.clear();
    let payload = message.encode_to_vec();
    let mut forged = good[..HEADER_BYTES].to_vec();
    forged[48..56].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    forged[56..60].copy_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    forged.extend_from_slice(&payload);
    assert!(matches!(decode(&forged), Err(SegmentError::Invalid(_))));
    Ok(())
}

/// Sums of floats added in another order differ in their last bits: compared apart, within a
/// relative 1e-9 (see [`sums_close`]); everything else must be equal.
fn rounded(mut h: crate::Headline) -> crate::Headline {
    h.sum_ms = 0.0;
    h.latencies.mean_ms = 0.0;
    h
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn sums_close(got: &[crate::Brief], want: &[crate::Brief]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            close(g.headline.sum_ms, w.headline.sum_ms)
                && close(g.headline.latencies.mean_ms, w.headline.latencies.mean_ms)
        })
}

fn rounded_briefs(briefs: Vec<crate::Brief>) -> Vec<(String, crate::Headline)> {
    briefs
        .into_iter()
        .map(|b| (b.operation, rounded(b.headline)))
        .collect()
}

fn rounded_points(points: Option<Vec<crate::Point>>) -> Option<Vec<(crate::Point, i64)>> {
    points.map(|points| {
        points
            .into_iter()
            .map(|mut p| {
                // Within a relative 1e-9 of the same value when equal to about 9 digits.
                let sum = (p.headline.sum_ms * 1e3).round() as i64;
                p.headline = rounded(p.headline);
                (p, sum)
            })
            .collect()
    })
}

fn assert_same(one: &Registry, shared: &Registry, now: f64) -> TestResult {
    for window in [60, 3_600, 86_400, 7 * 86_400] {
        for name in ["a", "b"] {
            let want = one.summary(name, now, window, 20).ok_or("missing")?;
            let got = shared.summary(name, now, window, 20).ok_or("missing")?;
            assert_eq!(
                rounded(got.headline),
                rounded(want.headline),
                "{name} over {window}"
            );
            assert!(close(got.headline.sum_ms, want.headline.sum_ms));
            assert_eq!(got.errors_by_code, want.errors_by_code);
            assert_eq!(got.top_errors, want.top_errors);
            assert_eq!(got.hourly, want.hourly);
            assert_eq!(
                rounded_points(shared.series(name, now, window, 30)),
                rounded_points(one.series(name, now, window, 30))
            );
        }
        assert!(sums_close(
            &shared.briefs(now, window),
            &one.briefs(now, window)
        ));
        assert_eq!(
            rounded_briefs(shared.briefs(now, window)),
            rounded_briefs(one.briefs(now, window))
        );
        assert_eq!(shared.operations(now, window), one.operations(now, window));
        assert_eq!(
            shared.top_errors(now, window, 10),
            one.top_errors(now, window, 10)
        );
    }
    let (want, got) = (one.cumulative(), shared.cumulative());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (
                &g.operation,
                g.total,
                g.failures,
                &g.errors_by_code,
                &g.buckets,
                &g.native
            ),
            (
                &w.operation,
                w.total,
                w.failures,
                &w.errors_by_code,
                &w.buckets,
                &w.native
            )
        );
        assert!((g.sum_seconds - w.sum_seconds).abs() < 1e-9);
    }
    Ok(())
}

#[test]
fn merged_segments_answer_like_one_registry() -> TestResult {
    let dir = TempDir::new();
    let workers = [open(&dir)?, open(&dir)?, open(&dir)?];
    let one = Registry::new(Config::default())?;
    for i in 0..6_000u32 {
        let (t, ms, outcome) = sample(i);
        let name = if i % 3 == 0 { "a" } else { "b" };
        let reg = &workers[(i % 7 % 3) as usize];
        reg.record(reg.register(name)?.id, t, ms, outcome.clone())?;
        one.record(one.register(name)?.id, t, ms, outcome)?;
    }
    for w in &workers {
        w.sync()?;
    }
    let now = 1_006_000.0;
    for w in &workers {
        forget_listing(w);
        assert_same(&one, w, now)?;
        assert_eq!(w.workers(now, 86_400).len(), 3);
    }
    let per_worker: u64 = workers[0]
        .workers(now, 86_400)
        .iter()
        .map(|w| w.total)
        .sum();
    assert_eq!(per_worker, 6_000);
    // A process that recorded nothing (a gunicorn master) does not contribute.
    let idle = open(&dir)?;
    idle.sync()?;
    forget_listing(&workers[0]);
    assert_eq!(workers[0].workers(now, 86_400).len(), 3);
    assert_eq!(
        idle.workers(now, 86_400).len(),
        4,
        "the asking process is always listed"
    );
    Ok(())
}

#[test]
fn dead_processes_go_to_the_archive_once_even_after_a_crash() -> TestResult {
    let dir = TempDir::new();
    let survivor = open(&dir)?;
    let one = Registry::new(Config::default())?;
    for round in 0..3u32 {
        let worker = open(&dir)?;
        for i in 0..1_000 {
            let (t, ms, outcome) = sample(round * 1_000 + i);
            let name = if i % 2 == 0 { "a" } else { "b" };
            worker.record(worker.register(name)?.id, t, ms, outcome.clone())?;
            one.record(one.register(name)?.id, t, ms, outcome)?;
        }
        let leftover = segment_bytes(&worker)?;
        let stem = worker.shared.as_ref().ok_or("not shared")?.me.lock().stem();
        drop(worker); // writes its segment and releases its lock: a dead process
        assert_eq!(survivor.compact()?, 1);
        assert!(!dir.0.join(format!("{stem}.seg")).exists());
        assert!(!dir.0.join(format!("{stem}.lock")).exists());
        // A compaction that died between the archive's rename and the deletes left the
        // segment behind: it must not count twice, and the next compaction removes it.
        fs::write(dir.0.join(format!("{stem}.seg")), &leftover)?;
        forget_listing(&survivor);
        assert_same(&one, &survivor, 1_006_000.0)?;
        assert_eq!(survivor.compact()?, 0);
        assert!(!dir.0.join(format!("{stem}.seg")).exists());
    }
    // A compaction that died before its rename left a temporary archive: nothing is lost.
    fs::write(dir.0.join("archive.seg.tmp"), b"half an archive")?;
    forget_listing(&survivor);
    assert_same(&one, &survivor, 1_006_000.0)?;
    // Absorbed tokens are dropped by the next compaction with work once their files are gone:
    // only the last round's is left (a compaction with nothing to do does not read the archive).
    assert_eq!(survivor.compact()?, 0);
    let archive = decode(&fs::read(dir.0.join(ARCHIVE))?)?;
    assert_eq!(archive.absorbed.len(), 1, "{:?}", archive.absorbed);
    let names: Vec<String> = fs::read_dir(&dir.0)?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    assert!(names.len() <= 5, "{names:?}");
    Ok(())
}

#[test]
fn a_restart_sees_the_windows_and_the_archive_keeps_thirty_days() -> TestResult {
    let dir = TempDir::new();
    let day = 86_400.0;
    let now = 1_700_000_000.0;
    {
        let old = open(&dir)?;
        let op = old.register("a")?.id;
        for d in 0..40u32 {
            old.record(op, now - f64::from(d) * day, 5.0, Outcome::Success)?;
        }
    }
    let fresh = open(&dir)?;
    assert_eq!(fresh.horizon_seconds(), 30 * 86_400);
    let total = |window| fresh.summary("a", now, window, 0).map(|s| s.headline.total);
    assert_eq!(total(3_600), Some(1));
    assert_eq!(total(7 * 86_400), Some(8));
    assert_eq!(total(30 * 86_400), Some(31));
    fresh.compact()?;
    assert_eq!(total(30 * 86_400), Some(31));
    let s = fresh.summary("a", now, 30 * 86_400, 0).ok_or("missing")?;
    let hours: u64 = s.hourly.iter().map(|(_, n)| n).sum();
    assert!((8..=9).contains(&hours), "the hourly ring's days: {hours}");
    Ok(())
}

#[test]
fn a_damaged_segment_is_quarantined_and_reported_once() -> TestResult {
    let dir = TempDir::new();
    let reader = open(&dir)?;
    let writer = open(&dir)?;
    writer.record(writer.register("a")?.id, 10.0, 1.0, Outcome::Success)?;
    writer.sync()?;
    fs::write(
        dir.0
            .join(format!("{}.seg", file_stem(99, 0xdead_beef_0000_0001))),
        b"junk junk junk junk",
    )?;
    forget_listing(&reader);
    assert_eq!(
        reader.summary("a", 10.0, 60, 0).map(|s| s.headline.total),
        Some(1)
    );
    let reports = reader.take_damage_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("bad magic"));
    assert!(reader.take_damage_reports().is_empty());
    assert_eq!(fs::read_dir(dir.0.join("quarantine"))?.count(), 1);
    assert_eq!(reader.shared_status().map(|s| s.quarantined), Some(1));
    Ok(())
}

#[test]
fn the_quarantine_keeps_the_latest_files_only() -> TestResult {
    let dir = TempDir::new();
    let reader = open(&dir)?;
    for round in 0..3u64 {
        for i in 0..20u64 {
            let name = format!("{}.seg", file_stem(7, (round << 32) | (i + 1)));
            fs::write(dir.0.join(name), b"junk junk junk junk")?;
        }
        forget_listing(&reader);
        let _ = reader.operations(0.0, 60);
    }
    assert_eq!(reader.take_damage_reports().len(), 60);
    assert_eq!(
        fs::read_dir(dir.0.join("quarantine"))?.count(),
        QUARANTINE_KEEPS
    );
    Ok(())
}

#[test]
fn file_names_parse_and_tokens_differ() {
    assert_eq!(
        parse_name("w-12-00000000000000ff.seg"),
        Some((12, 255, Kind::Segment))
    );
    assert_eq!(
        parse_name("w-12-00000000000000ff.lock.new").map(|p| p.2),
        Some(Kind::NewLock)
    );
    assert_eq!(parse_name("w-12-ff.seg"), None);
    assert_eq!(parse_name("archive.seg"), None);
    assert_ne!(new_token(), new_token());
}

#[test]
fn a_registry_without_a_directory_shares_nothing() -> TestResult {
    let reg = Registry::new(Config::default())?;
    assert!(!reg.sync()?);
    assert_eq!(reg.compact()?, 0);
    assert!(reg.shared_status().is_none());
    assert!(reg.take_damage_reports().is_empty());
    assert_eq!(reg.workers(0.0, 60).len(), 1);
    assert!(matches!(
        Registry::open_shared(
            Config::default(),
            SharedOptions {
                archive_days: 0,
                ..SharedOptions::new("/nonexistent")
            }
        ),
        Err(SharedError::ArchiveDays(0))
    ));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_split_of_samples_merges_exactly(
        samples in prop::collection::vec((0u32..3, 0u32..200_000, 0.0f64..5_000.0, 0u8..4), 1..300)
    ) {
        let dir = TempDir::new();
        let mut samples = samples;
        // Time moves forwards in each process (a clock stepped back is another matter: each
        // registry's rings keep what their own history allows).
        samples.sort_by_key(|s| s.1);
        let run = || -> TestResult {
            let workers = [open(&dir)?, open(&dir)?, open(&dir)?];
            let one = Registry::new(Config::default())?;
            for (who, dt, ms, kind) in &samples {
                let t = 1_000_000.0 + f64::from(*dt);
                let outcome = if *kind == 0 { failure(&format!("C{who}"), "m") } else { Outcome::Success };
                let name = if *kind == 3 { "a" } else { "b" };
                let reg = &workers[*who as usize];
                reg.record(reg.register(name)?.id, t, *ms, outcome.clone())?;
                one.record(one.register(name)?.id, t, *ms, outcome)?;
            }
            for w in &workers {
                w.sync()?;
                // And through the file: decode(encode(x)) encodes to the same bytes.
                let bytes = segment_bytes(w)?;
                let decoded = decode(&bytes)?;
                assert_eq!(encode(&decoded.header, &decoded.state, &[]), bytes);
            }
            forget_listing(&workers[0]);
            let now = 1_200_001.0;
            for window in [3_600, 86_400, 7 * 86_400] {
                assert!(sums_close(&workers[0].briefs(now, window), &one.briefs(now, window)));
                assert_eq!(rounded_briefs(workers[0].briefs(now, window)), rounded_briefs(one.briefs(now, window)));
                for name in ["a", "b"] {
                    let got = workers[0].summary(name, now, window, 10).map(|s| (rounded(s.headline), s.headline.sum_ms, s.errors_by_code));
                    let want = one.summary(name, now, window, 10).map(|s| (rounded(s.headline), s.headline.sum_ms, s.errors_by_code));
                    assert!(match (&got, &want) { (Some(g), Some(w)) => close(g.1, w.1), (None, None) => true, _ => false });
                    let (got, want) = (got.map(|g| (g.0, g.2)), want.map(|w| (w.0, w.2)));
                    assert_eq!(got, want);
                }
            }
            Ok(())
        };
        run().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

fn with_header(payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 36]);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any payload with a valid checksum (a writer with a bug, or a forger) is read or refused,
    /// never a panic; a real payload with any byte changed is too.
    #[test]
    fn any_payload_is_read_or_refused(
        junk in prop::collection::vec(any::<u8>(), 0..400),
        flip in 0usize..4_000,
        bits in 1u8..=255,
    ) {
        let _ = decode(&with_header(&junk));
        let reg = Registry::new(Config::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let op = reg.register("a").map_err(|e| TestCaseError::fail(e.to_string()))?.id;
        for i in 0..20u32 {
            let (t, ms, outcome) = sample(i);
            reg.record(op, t, ms, outcome).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let mut payload = payload_bytes(&reg.locked_state(), &[1]);
        let at = flip % payload.len();
        payload[at] ^= bits;
        let _ = decode(&with_header(&payload));
    }
}

#[test]
fn a_native_histogram_out_of_range_is_refused() -> TestResult {
    let reg = filled_registry()?;
    let mut message = state_to_proto(&reg.locked_state(), &[]);
    if let Some(life) = message.ops.get_mut(0).and_then(|op| op.life.as_mut()) {
        life.native_offset = -2_000_000_000;
    }
    let err = decode(&with_header(&message.encode_to_vec())).err();
    assert!(matches!(err, Some(SegmentError::Invalid(why)) if why.contains("native")));
    Ok(())
}
